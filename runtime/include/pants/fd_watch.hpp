// pants/fd_watch.hpp: descriptors from elsewhere on the loop (Pants'
// add_channel / modify_channel / remove_channel).
//
//   pants::FdWatch w = engine.watch(fd, pants::FdEvents::readable,
//                                   [](pants::FdEvents ev) { ... });
//   pants::Result<pants::FdEvents> ev = co_await engine.readable(fd);
//
// Any pollable descriptor works: a pipe, stdin, an eventfd, inotify, a
// socket another library (a database client, say) owns. Pants never reads,
// writes or closes it; it only says when it is ready.
//
// A watch is edge-triggered, like EPOLLET: the callback runs when the
// descriptor becomes ready for the events asked for (at once if it already
// is when the watch starts or is modified), and again on each new wakeup
// (more data arriving, room freed), not for data that merely stays unread.
// Read or write until EAGAIN in the callback. error and hangup are always
// reported. Both backends behave the same way: io_uring keeps one multishot
// poll armed, epoll registers the descriptor once.
//
// Ownership: the FdWatch handle owns the watch; destroying it or calling
// cancel() stops it (the callback is never called after that, also when
// cancel() comes from inside it). Remove the watch before closing the
// descriptor. The callback object is destroyed once the kernel has let go
// of the watch, on a later turn. Engine thread only.
#pragma once

#include <poll.h>

#include <coroutine>
#include <cstdint>
#include <functional>
#include <system_error>

#include <pants/detail/cancel.hpp>
#include <pants/result.hpp>

namespace pants {

class Engine;

/// What a descriptor is ready for (the poll(2) bits, so they combine with |).
enum class FdEvents : std::uint32_t {
    none = 0,
    readable = POLLIN,
    priority = POLLPRI,   ///< urgent data (TCP out-of-band, sysfs changes)
    writable = POLLOUT,
    error = POLLERR,      ///< always reported
    hangup = POLLHUP,     ///< always reported
    read_hangup = POLLRDHUP,  ///< the peer shut down its writing side
};

constexpr FdEvents operator|(FdEvents a, FdEvents b) noexcept {
    return FdEvents(std::uint32_t(a) | std::uint32_t(b));
}
constexpr FdEvents operator&(FdEvents a, FdEvents b) noexcept {
    return FdEvents(std::uint32_t(a) & std::uint32_t(b));
}
/// True if `events` holds any bit of `which`: has(ev, FdEvents::readable).
constexpr bool has(FdEvents events, FdEvents which) noexcept { return (events & which) != FdEvents::none; }

namespace detail {
struct WatchState;
class FdReadyAwaiter;
}  // namespace detail

/// A watch made by Engine::watch(): owns it, and stops it when destroyed.
class [[nodiscard]] FdWatch {
public:
    /// A handle that watches nothing.
    FdWatch() noexcept = default;
    FdWatch(FdWatch&& other) noexcept;
    FdWatch& operator=(FdWatch&& other) noexcept;
    FdWatch(const FdWatch&) = delete;
    FdWatch& operator=(const FdWatch&) = delete;
    /// Stops the watch (as cancel()).
    ~FdWatch();

    /// Watches for `events` from now on. Readiness is checked again at
    /// once: if the descriptor is ready now for one of them, the callback
    /// runs on a coming turn. Does nothing on a stopped watch.
    void modify(FdEvents events);
    /// Stops the watch: the callback is not called again. Safe to call
    /// twice, from inside the callback, or after the Engine is gone.
    void cancel() noexcept;
    /// True until cancel() or a failure of the watch itself.
    bool active() const noexcept;
    /// The events watched for.
    FdEvents events() const noexcept;
    /// The descriptor watched (-1 for an empty handle).
    int fd() const noexcept;
    /// Why the watch stopped on its own (the callback then got
    /// FdEvents::error once), if it did.
    std::error_code error() const noexcept;

private:
    friend class Engine;
    explicit FdWatch(detail::WatchState* state) noexcept : state_(state) {}
    detail::WatchState* state_ = nullptr;
};

namespace detail {

/// What `co_await engine.readable(fd)` / `writable(fd)` waits on. Its
/// poll lives in an allocation of its own that outlives the awaiter until
/// the kernel gives it back, so a coroutine destroyed (or cancelled) while
/// waiting is safe.
class FdReadyAwaiter {
public:
    FdReadyAwaiter(Engine& engine, int fd, FdEvents events) noexcept : engine_(&engine), fd_(fd), events_(events) {}
    FdReadyAwaiter(const FdReadyAwaiter&) = delete;
    FdReadyAwaiter& operator=(const FdReadyAwaiter&) = delete;
    ~FdReadyAwaiter();

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return suspend(h, cancel_state_of(h));
    }
    /// The events the descriptor is ready for, or an error (EBADF, EPERM
    /// for a descriptor that cannot be polled, operation_canceled).
    Result<FdEvents> await_resume() const noexcept;

private:
    friend struct WatchState;
    bool suspend(std::coroutine_handle<> h, CancelState* cancel);
    static void on_cancel(void* self) noexcept;

    Engine* engine_;
    int fd_;
    FdEvents events_;
    WatchState* state_ = nullptr;  // while the poll is in flight
    CancelState* cancel_ = nullptr;
    std::coroutine_handle<> waiter_;
    int result_ = 0;  // the ready events, or -errno
};

}  // namespace detail
}  // namespace pants
