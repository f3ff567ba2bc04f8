// pants/detail/backend.hpp: the interface both event backends implement.
//
// A Backend submits Operations and delivers their completions. Nothing above
// it knows whether io_uring or epoll runs underneath. Owned by one Engine and
// used from that engine's thread only, except wake().
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string_view>

#include <pants/detail/chunk_pool.hpp>
#include <pants/detail/operation.hpp>
#include <pants/result.hpp>

namespace pants {

/// Which event backend an Engine runs on.
enum class BackendKind {
    automatic,  ///< PANTS_BACKEND if set, else the build's default; io_uring falls back to epoll
    io_uring,
    epoll,
};

}  // namespace pants

namespace pants::detail {

/// Sizes an Engine chooses for its backend.
struct BackendConfig {
    unsigned ring_entries = 1024;    ///< io_uring submission queue size
    unsigned buffer_count = 512;     ///< provided receive buffers (power of two)
    unsigned buffer_size = 16384;    ///< bytes per receive buffer
};

/// Hears of a datagram that Backend::send_datagram() took and the kernel
/// then refused (io_uring). Call Backend::forget() before it dies.
class DatagramSendSink {
public:
    /// The datagram `data` (its bytes, valid during the call) was not sent:
    /// `result` is -errno. Called from a completion, never from inside
    /// send_datagram().
    virtual void datagram_send_failed(int result, std::string_view data) = 0;

protected:
    ~DatagramSendSink() = default;
};

class Backend {
public:
    virtual ~Backend() = default;

    /// "io_uring" or "epoll".
    virtual std::string_view name() const noexcept = 0;

    /// Queues op; its completions arrive from a later run_once(). Never
    /// completes inline.
    virtual void submit(Operation& op) = 0;

    /// Asks for op to end early. Its final completion still arrives (with
    /// -ECANCELED, or its real result if it won the race); free nothing the
    /// op points at before then. Safe to call twice or on an idle op.
    virtual void cancel(Operation& op) = 0;

    /// Closes fd and forgets any state kept for it. Cancel and drain every
    /// operation on fd first.
    virtual void close(int fd) = 0;

    /// Submits what is queued, waits at most `timeout` (0 = don't block) for
    /// completions, and dispatches them. One kernel entry where possible.
    virtual void run_once(std::chrono::nanoseconds timeout) = 0;

    /// Wakes a blocked run_once() from any thread.
    virtual void wake() noexcept = 0;

    /// run_once() may be called on this thread. False only for a backend
    /// bound to the thread that ran it (io_uring with SINGLE_ISSUER) when
    /// this is another: an Engine destroyed there cannot drain.
    virtual bool can_turn_here() const noexcept { return true; }

    /// Sends the `count` buffers at `iov` on the stream socket `fd` now, without an Operation, if
    /// this backend can: the bytes sent, or -errno. -EAGAIN means it could
    /// not (the socket is full, a send is parked on it, or the backend
    /// never sends this way): an Operation must carry the send. Only a
    /// backend whose sends_at_once() is true calls the kernel here (epoll,
    /// as libuv's uv_try_write; io_uring batches sends into its next
    /// submission instead).
    virtual int send_now(int fd, const iovec* iov, int count) noexcept {
        (void)fd, (void)iov, (void)count;
        return -EAGAIN;
    }
    /// send_now() may send (checked inline before each flush).
    bool sends_at_once() const noexcept { return sends_at_once_; }

    /// Sends `data` as one datagram on the connected datagram socket `fd`,
    /// without an Operation and without a completion when it goes: 0 when
    /// it went or was taken, -EAGAIN (or -ENOBUFS, -EINTR) when it could
    /// not go now (an Operation must carry it), another -errno when it
    /// failed at once. This one is send(2) at once (epoll). io_uring takes
    /// a copy into the turn's submission instead (a send with MSG_DONTWAIT
    /// and IOSQE_CQE_SKIP_SUCCESS, which leaves with the turn's one
    /// io_uring_enter and ends no wait): a failure then reaches `sink` from
    /// a later completion. Datagrams taken this way may overtake those an
    /// Operation carries.
    virtual int send_datagram(int fd, std::string_view data, DatagramSendSink& sink) noexcept;
    /// `sink` hears of no more failures (it is about to die).
    virtual void forget(DatagramSendSink& sink) noexcept { (void)sink; }

    /// Wakes `target` (another engine's backend) from this backend's
    /// thread, inside a loop turn. The default writes target's wake-up;
    /// io_uring sends a ring message (MSG_RING) when both rings take it,
    /// which leaves with flush_notifications() and costs the target no
    /// system call.
    virtual void notify(Backend& target) noexcept { target.wake(); }
    /// Hands the notifications queued this turn to the kernel.
    virtual void flush_notifications() {}
    /// notify() queued something that flush_notifications() must send
    /// (checked inline once per turn: mostly nothing is queued).
    bool notifications_queued() const noexcept { return notifications_queued_; }

    /// Operations submitted whose final completion has not been delivered.
    std::size_t in_flight() const noexcept { return in_flight_; }
    /// Operations submitted since the backend was made, sends made by
    /// send_now() included (tests, benchmarks).
    std::uint64_t submitted() const noexcept { return submitted_; }
    /// Receive buffers handed to a handler in a Completion and not yet
    /// taken back (the backend takes each back when its handler returns:
    /// tests check that this is 0 between turns).
    std::size_t buffers_lent() const noexcept { return buffers_lent_; }

    /// Blocks for the channels' queued output (see chunk_pool.hpp).
    ChunkPool& output_blocks() noexcept { return output_blocks_; }
    /// Blocks for StreamIo's send state, and nothing else (a recycled
    /// block still holds one: see chunk_pool.hpp).
    SmallBlockPool& send_blocks() noexcept { return send_blocks_; }

    /// Where exceptions thrown by completion handlers go.
    void set_error_sink(std::function<void(std::exception_ptr)> sink) { sink_ = std::move(sink); }

protected:
    /// Delivers one completion, keeping the in-flight count and catching
    /// what the handler throws. A receive buffer in `c` is the handler's
    /// until it returns; the backend then takes it back (and calls
    /// returned()).
    void dispatch(Operation& op, const Completion& c) noexcept {
        if (!c.more) {
            op.in_flight = false;
            op.cancelling = false;
            --in_flight_;
        }
        if (c.data) ++buffers_lent_;
        try {
            op.handler(op, c);
        } catch (...) {
            if (sink_) sink_(std::current_exception());
        }
    }
    void started(Operation& op) noexcept {
        op.in_flight = true;
        op.cancelling = false;
        ++in_flight_;
        ++submitted_;
    }
    /// A lent buffer came back.
    void returned() noexcept { --buffers_lent_; }
    /// send_now() made a send (counted as a submitted operation).
    void sent_at_once() noexcept { ++submitted_; }
    /// Hands what a handler outside dispatch() threw to the error sink.
    void report(std::exception_ptr error) noexcept {
        if (sink_) sink_(error);
    }

    bool notifications_queued_ = false;
    bool sends_at_once_ = false;  // see send_now()

private:
    std::size_t in_flight_ = 0;
    std::uint64_t submitted_ = 0;
    std::size_t buffers_lent_ = 0;
    std::function<void(std::exception_ptr)> sink_;
    ChunkPool output_blocks_;
    SmallBlockPool send_blocks_;
};

/// Builds the backend: `choice`, else PANTS_BACKEND, else the build default.
/// `automatic` falls back to epoll (one line on stderr) when io_uring cannot
/// be set up; an explicit io_uring that fails throws std::system_error.
std::unique_ptr<Backend> make_backend(BackendKind choice, const BackendConfig& config);

}  // namespace pants::detail
