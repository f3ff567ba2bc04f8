// pants/task.hpp: Task<T>, the coroutine type of Pants.
//
// A Task is lazy: it starts when awaited (or handed to Engine::spawn) and
// resumes its awaiter when done, by symmetric transfer, so chains of any
// depth use constant stack. It is move-only and owns its frame; an
// exception thrown inside is rethrown to the awaiter. A Task awaited inside
// another Task shares its cancellation: cancelling the outer one (through
// when_any, a timeout or the engine shutting down) cancels the operation
// the innermost one waits on.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <pants/detail/cancel.hpp>

namespace pants {

template <class T = void>
class Task;

namespace detail {

class PromiseBase {
public:
    struct FinalAwaiter {
        bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            auto next = h.promise().continuation_;
            return next ? next : std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };

    std::suspend_always initial_suspend() const noexcept { return {}; }
    FinalAwaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { exception_ = std::current_exception(); }

    CancelState* cancel_state() const noexcept { return cancel_; }
    void set_cancel_state(CancelState* c) noexcept { cancel_ = c; }
    void set_continuation(std::coroutine_handle<> h) noexcept { continuation_ = h; }

protected:
    void rethrow_if_failed() const {
        if (exception_) std::rethrow_exception(exception_);
    }

private:
    std::coroutine_handle<> continuation_;
    std::exception_ptr exception_;
    CancelState* cancel_ = nullptr;
};

template <class T>
class Promise final : public PromiseBase {
public:
    Task<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value_.emplace(std::forward<U>(v));
    }
    T take() {
        rethrow_if_failed();
        return std::move(*value_);
    }

private:
    std::optional<T> value_;
};

template <>
class Promise<void> final : public PromiseBase {
public:
    Task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void take() { rethrow_if_failed(); }
};

}  // namespace detail

/// A lazily started coroutine producing a T (or void).
template <class T>
class [[nodiscard]] Task {
public:
    using promise_type = detail::Promise<T>;
    using value_type = T;
    using Handle = std::coroutine_handle<promise_type>;

    Task() noexcept = default;
    explicit Task(Handle h) noexcept : handle_(h) {}
    Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            destroy();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() { destroy(); }

    /// True if this Task holds a coroutine.
    explicit operator bool() const noexcept { return bool(handle_); }
    /// True once the coroutine has run to its end.
    bool done() const noexcept { return !handle_ || handle_.done(); }

    struct Awaiter {
        Handle handle;
        bool await_ready() const noexcept { return !handle || handle.done(); }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiter) noexcept {
            handle.promise().set_continuation(awaiter);
            handle.promise().set_cancel_state(detail::cancel_state_of(awaiter));
            return handle;
        }
        T await_resume() {
            if (!handle) throw std::logic_error("co_await on an empty pants::Task");
            return handle.promise().take();
        }
    };

    /// Starts the task and suspends the awaiter until it finishes.
    Awaiter operator co_await() && noexcept { return Awaiter{handle_}; }
    Awaiter operator co_await() & noexcept { return Awaiter{handle_}; }

    /// Internal: the coroutine handle (Engine::spawn, when_all).
    Handle handle() const noexcept { return handle_; }

private:
    void destroy() noexcept {
        if (handle_) handle_.destroy();
        handle_ = {};
    }
    Handle handle_;
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
    return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
    return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace pants
