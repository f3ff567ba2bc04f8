// pants/engine.hpp: the event loop.
//
// An Engine owns one backend (io_uring or epoll), the timers and the
// detached coroutines. Engine::instance() is the process-wide default that
// channels use unless given another; more engines may be constructed, one
// per thread. An Engine is used from the thread that created it; only
// post() and stop() may be called from other threads.
//
// Each turn of the loop: submit queued operations and wait (at most until
// the nearest timer) in one kernel entry, dispatch I/O completions, then run
// posted functions, due timers, callback()s and loop()s. A callback that
// throws is passed to the error handler and the loop goes on.
#pragma once

#include <atomic>
#include <chrono>
#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <pants/detail/backend.hpp>
#include <pants/detail/callback.hpp>
#include <pants/detail/deadline.hpp>
#include <pants/detail/signal_awaiter.hpp>
#include <pants/detail/timer_queue.hpp>
#include <pants/fd_watch.hpp>
#include <pants/result.hpp>
#include <pants/task.hpp>
#include <pants/timer.hpp>

namespace pants {

class Engine;

namespace detail {
template <class F>
class CallAwaiter;
class DetachedPromise;
class SignalWatch;
class SleepAwaiter;

/// Something that lives on an Engine and must hear of it when the Engine
/// is destroyed first (a channel's I/O state).
class EngineClient {
public:
    /// The engine is being destroyed: stop, cancelling what is in flight
    /// (the engine still drains completions after this).
    virtual void engine_stopping() noexcept = 0;
    /// The engine is gone: never touch it again; free what nobody owns.
    virtual void engine_gone() noexcept = 0;

protected:
    ~EngineClient() = default;

private:
    friend class pants::Engine;
    EngineClient* prev_ = nullptr;
    EngineClient* next_ = nullptr;
};

/// Something that batches work during a turn and submits it once, right
/// before the engine waits (a stream's queued writes become one sendmsg).
/// It is an EngineClient too: whatever flushes lives on the engine (one
/// vtable pointer for both, in every channel).
class TurnFlush : public EngineClient {
public:
    virtual void flush() = 0;

protected:
    ~TurnFlush() = default;

private:
    friend class pants::Engine;
    // The engine's FIFO of queued flushes: null when not queued; the last
    // one points at a sentinel, so no separate flag is needed.
    TurnFlush* flush_next_ = nullptr;
};

}  // namespace detail

class Engine {
public:
    using Clock = std::chrono::steady_clock;
    using Duration = std::chrono::nanoseconds;

    /// How to build an Engine.
    struct Options {
        BackendKind backend = BackendKind::automatic;
        unsigned ring_entries = 1024;   ///< io_uring submission queue entries
        unsigned buffer_count = 512;    ///< receive buffers lent to the kernel (power of two)
        unsigned buffer_size = 16384;   ///< bytes per receive buffer
    };

    /// The process-wide default engine, created on first use.
    static Engine& instance();

    Engine();
    explicit Engine(const Options& options);
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;
    /// Closes the channels still on it (their on_close runs), cancels
    /// detached coroutines and drains in-flight operations. Channels
    /// destroyed afterwards are inert: destroying them is safe. An
    /// io_uring engine destroyed on another thread than the one that ran
    /// it cannot drain: the kernel ends what was in flight, and lets go of
    /// the sockets it holds, when that thread exits.
    ~Engine();

    /// Runs the loop until stop().
    void start();
    /// Makes start() return after the current turn. Any thread.
    void stop() noexcept;
    /// True while start() runs.
    bool running() const noexcept { return running_; }
    /// True while a turn runs on this engine's thread (inside start(),
    /// poll(), run_until() or run()): code that sees it is being called
    /// from one of this engine's callbacks or coroutines.
    bool in_turn() const noexcept { return turn_depth_ > 0; }

    /// Runs one turn, waiting for I/O at most `timeout` (less if a timer is
    /// due sooner; not at all if callbacks are pending). For embedding.
    void poll(Duration timeout = std::chrono::milliseconds(20));

    /// Runs turns until `done()` is true or `limit` passes; returns done().
    bool run_until(const std::function<bool()>& done, Duration limit);

    /// Runs the loop until `task` finishes and returns its result (for
    /// scripts, tests and main()). Rethrows what the task throws.
    template <class T>
    T run(Task<T> task);

    /// Runs f(args...) once, on the next turn.
    template <class F, class... Args>
    Timer callback(F&& f, Args&&... args) {
        return add_turn(detail::TimerState::Kind::next_turn, detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...));
    }
    /// Runs f(args...) on every turn until cancelled.
    template <class F, class... Args>
    Timer loop(F&& f, Args&&... args) {
        return add_turn(detail::TimerState::Kind::every_turn, detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...));
    }
    /// Runs f(args...) once, `delay` from now (zero or negative: next turn).
    template <class Rep, class Period, class F, class... Args>
    Timer defer(std::chrono::duration<Rep, Period> delay, F&& f, Args&&... args) {
        return add_deadline(detail::saturating_nanoseconds(delay), Duration::zero(),
                            detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...));
    }
    /// Runs f(args...) every `interval` until cancelled. A zero or
    /// negative interval throws std::invalid_argument (as Pants 1.x).
    template <class Rep, class Period, class F, class... Args>
    Timer cycle(std::chrono::duration<Rep, Period> interval, F&& f, Args&&... args) {
        auto d = detail::saturating_nanoseconds(interval);
        if (d <= Duration::zero()) throw std::invalid_argument("pants: cycle() needs an interval > 0");
        return add_deadline(d, d, detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...));
    }

    /// Runs f on the engine's thread on its next turn, waking it if it is
    /// blocked. The only function besides stop() callable from any thread.
    /// Functions posted from one thread run in the order posted; to send a
    /// value to another engine, post a function that captures it. From
    /// another engine's loop the wake-up is a ring-to-ring message where
    /// the backends allow it (io_uring's MSG_RING), else an eventfd write.
    void post(detail::Callback f);

    /// `co_await target.call(f)`: runs f() on this engine and resumes the
    /// awaiting coroutine on its own engine (Engine::current()) with
    /// Result<R> (R: what f returns); operation_canceled if the coroutine is
    /// cancelled first (f is then skipped unless it has started); what f
    /// throws is rethrown in the coroutine. Both engines must outlive it.
    template <class F>
    detail::CallAwaiter<std::decay_t<F>> call(F&& f) {
        return detail::CallAwaiter<std::decay_t<F>>(*this, std::forward<F>(f));
    }

    /// Where exceptions from callbacks and detached coroutines go (default:
    /// print to stderr). The loop goes on either way.
    void set_error_handler(std::function<void(std::exception_ptr)> handler);
    /// Passes an exception to the error handler.
    void report(std::exception_ptr error) noexcept;

    /// Starts `task` now, detached: it runs until its first suspension here
    /// and then on this engine. Its exception goes to the error handler.
    template <class T>
    void spawn(Task<T> task);

    /// An awaitable that resumes after `d`; gives an operation_canceled
    /// error if the coroutine is cancelled first.
    template <class Rep, class Period>
    detail::SleepAwaiter sleep(std::chrono::duration<Rep, Period> d);

    // --- signals (runtime/signal_watch.cpp) ---------------------------------
    /// Runs f() (or f(signo)) on this engine each time signal `signo`
    /// arrives, until the returned handle is cancelled. The signal is read
    /// from a signalfd on the loop, no handler is installed: on_signal
    /// blocks it in the calling thread (this engine's), and it stays
    /// blocked. Block it in every other thread of the process too, before
    /// starting them, or a signal sent to the process (kill) may go to one
    /// of them instead (pants::Cluster blocks its signals for you).
    template <class F>
    Timer on_signal(int signo, F&& f) {
        if constexpr (std::is_invocable_v<std::decay_t<F>&, int>)
            return add_signal(signo, [signo, f = std::forward<F>(f)]() mutable { f(signo); });
        else
            return add_signal(signo, detail::Callback(std::forward<F>(f)));
    }
    /// An awaitable that resumes with the number of the first of the given
    /// signals to arrive (at most 8), or operation_canceled. As on_signal,
    /// it blocks them in the calling thread.
    template <class... More>
    detail::SignalAwaiter signal(int signo, More... more) {
        return detail::SignalAwaiter(*this, {signo, int(more)...});
    }

    /// The engine whose loop runs on the calling thread (inside start(),
    /// poll() or run()), or nullptr.
    static Engine* current() noexcept;

    // --- descriptors from elsewhere (pants/fd_watch.hpp) ---
    /// Calls f(ready) whenever `fd` becomes ready for `events` (edge-
    /// triggered; see fd_watch.hpp) until the returned handle is cancelled
    /// or destroyed. Throws std::system_error for a descriptor that is not
    /// open (EBADF) or cannot be polled (EPERM: a regular file, a directory).
    FdWatch watch(int fd, FdEvents events, std::function<void(FdEvents)> f);
    /// co_await: resumes when `fd` is readable (or has hung up or failed).
    detail::FdReadyAwaiter readable(int fd) noexcept { return {*this, fd, FdEvents::readable}; }
    /// co_await: resumes when `fd` is writable (or has hung up or failed).
    detail::FdReadyAwaiter writable(int fd) noexcept { return {*this, fd, FdEvents::writable}; }

    /// "io_uring" or "epoll".
    std::string_view backend_name() const noexcept { return backend_->name(); }
    /// Now, on the clock timers use.
    static Clock::time_point now() noexcept { return Clock::now(); }
    /// Timers and turn callbacks still registered.
    std::size_t pending_timers() const noexcept;
    /// Detached coroutines still running.
    std::size_t detached_tasks() const noexcept;

    /// Internal: the backend channels submit to.
    detail::Backend& backend() noexcept { return *backend_; }
    /// Internal: schedules a TimerState (sleep, timeouts).
    void schedule(std::shared_ptr<detail::TimerState> t);
    /// Internal: a callback() made once and run again each time
    /// schedule_turn() queues it, allocating nothing per run (the DNS
    /// resolver's per-turn drains). Not queued yet; Timer(t).cancel() ends
    /// it.
    static std::shared_ptr<detail::TimerState> reusable_callback(detail::Callback fn);
    /// Internal: runs `t`'s function on the next turn, as callback() does,
    /// unless `t` is queued already; `t` keeps its function for next time.
    void schedule_turn(const std::shared_ptr<detail::TimerState>& t);
    /// Internal: calls f.flush() once before this turn's wait.
    void queue_flush(detail::TurnFlush& f) noexcept {
        // Inline: a stream queues one per message it writes.
        if (f.flush_next_) return;
        f.flush_next_ = flush_end();
        (flush_tail_ ? flush_tail_->flush_next_ : flush_head_) = &f;
        flush_tail_ = &f;
    }
    /// Internal: forgets a queued flush (its object is going away).
    void cancel_flush(detail::TurnFlush& f) noexcept;
    /// Internal: `c` hears of this engine's destruction until detach(c).
    void attach(detail::EngineClient& c) noexcept;
    void detach(detail::EngineClient& c) noexcept;

private:
    friend class detail::DetachedPromise;
    friend class detail::SignalWatch;

    Timer add_signal(int signo, detail::Callback fn);
    Timer add_turn(detail::TimerState::Kind kind, detail::Callback fn);
    Timer add_deadline(Duration delay, Duration interval, detail::Callback fn);
    void invoke(detail::TimerState& t) noexcept;
    void run_posted();
    void run_timers();
    void run_turn_callbacks();
    /// Something for run_turn_callbacks(): a callback() or a loop().
    bool has_turn_callbacks() const noexcept { return !next_turn_.empty() || !every_turn_.empty(); }
    void run_flushes();
    // One turn: wait, then completions, timers, flushes (inline in
    // engine.cpp, the only place that calls it).
    inline void turn(Duration timeout);
    /// turn()'s wait when attention_ or a flush, a post or a stop is pending.
    Duration wait_limit(Duration timeout) const;
    /// turn()'s work after the wait, when attention_ or a post is pending.
    void after_wait();
    /// run()'s loop: turns until `done`, set up once as start() is.
    void run_until_set(const bool& done);
    // The end of the flush list (never dereferenced).
    static detail::TurnFlush* flush_end() noexcept { return reinterpret_cast<detail::TurnFlush*>(alignof(detail::TurnFlush)); }

    std::unique_ptr<detail::Backend> backend_;
    detail::TimerQueue timers_;
    std::vector<std::shared_ptr<detail::TimerState>> next_turn_;
    std::vector<std::shared_ptr<detail::TimerState>> every_turn_;
    std::vector<std::shared_ptr<detail::TimerState>> scratch_;
    // Timers, turn callbacks or a queued notification may be waiting: set
    // where they are added, cleared by after_wait() when all are gone (one
    // flag for a turn to test).
    bool attention_ = false;
    // Flushes queued for this turn (intrusive FIFO through flush_next_),
    // and those run_flushes() is working through.
    detail::TurnFlush* flush_head_ = nullptr;
    detail::TurnFlush* flush_tail_ = nullptr;
    detail::TurnFlush* flushing_ = nullptr;

    std::mutex posted_mutex_;
    std::vector<detail::Callback> posted_;
    std::atomic<bool> has_posted_{false};

    std::atomic<bool> running_{false};
    std::atomic<bool> stop_requested_{false};
    std::function<void(std::exception_ptr)> error_handler_;
    detail::DetachedPromise* detached_ = nullptr;  // intrusive list
    detail::EngineClient* clients_ = nullptr;      // intrusive list
    std::unique_ptr<detail::SignalWatch> signals_;  // made by the first on_signal
    std::size_t detached_count_ = 0;
    int turn_depth_ = 0;  // nested poll() calls on the engine's thread
};

namespace detail {

/// Promise of the coroutine that drives a spawned Task.
class DetachedPromise {
public:
    struct Handle {
        using promise_type = DetachedPromise;
        std::coroutine_handle<DetachedPromise> h;
    };
    template <class T>
    DetachedPromise(Engine& engine, Task<T>&) noexcept : engine_(&engine) {
        next_ = engine.detached_;
        if (next_) next_->prev_ = this;
        engine.detached_ = this;
        ++engine.detached_count_;
    }
    ~DetachedPromise() {
        (prev_ ? prev_->next_ : engine_->detached_) = next_;
        if (next_) next_->prev_ = prev_;
        --engine_->detached_count_;
    }
    Handle get_return_object() noexcept { return {std::coroutine_handle<DetachedPromise>::from_promise(*this)}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { engine_->report(std::current_exception()); }
    CancelState* cancel_state() noexcept { return &cancel_; }
    DetachedPromise* next() const noexcept { return next_; }

private:
    Engine* engine_;
    CancelState cancel_;
    DetachedPromise* prev_ = nullptr;
    DetachedPromise* next_ = nullptr;
};

}  // namespace detail
}  // namespace pants

namespace pants {
namespace detail {

template <class T>
DetachedPromise::Handle run_detached(Engine&, Task<T> task) {
    co_await std::move(task);
}

/// What `co_await engine.sleep(d)` waits on.
class SleepAwaiter {
public:
    SleepAwaiter(Engine& engine, Engine::Duration d) noexcept : engine_(engine), delay_(d) {}
    SleepAwaiter(const SleepAwaiter&) = delete;
    ~SleepAwaiter() {
        if (timer_) Timer(timer_).cancel();  // the frame died while asleep
    }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        cancel_ = cancel_state_of(h);
        if (cancel_ && cancel_->requested()) {
            cancelled_ = true;
            return false;
        }
        waiter_ = h;
        timer_ = std::make_shared<TimerState>();
        timer_->fn = [this] { fire(); };
        timer_->deadline = deadline_after<Clock>(Clock::now(), delay_);
        engine_.schedule(timer_);
        if (cancel_) cancel_->on_request(&SleepAwaiter::on_cancel, this);
        return true;
    }
    Result<void> await_resume() noexcept {
        if (cancelled_) return fail(ECANCELED);
        return ok();
    }

private:
    void fire() {
        if (cancel_) cancel_->clear();
        timer_.reset();
        waiter_.resume();
    }
    static void on_cancel(void* self) noexcept {
        auto* s = static_cast<SleepAwaiter*>(self);
        s->cancelled_ = true;
        s->cancel_ = nullptr;
        Timer(s->timer_).cancel();
        // Resume on the next turn, never inside the canceller's call.
        s->timer_ = std::make_shared<TimerState>();
        s->timer_->fn = [s] { s->fire(); };
        s->timer_->deadline = Clock::time_point{};
        s->engine_.schedule(s->timer_);
    }

    Engine& engine_;
    Engine::Duration delay_;
    std::shared_ptr<TimerState> timer_;
    std::coroutine_handle<> waiter_;
    CancelState* cancel_ = nullptr;
    bool cancelled_ = false;
};

}  // namespace detail

}  // namespace pants

#include <pants/detail/call_awaiter.hpp>

namespace pants {

template <class T>
void Engine::spawn(Task<T> task) {
    detail::run_detached(*this, std::move(task));
}

template <class Rep, class Period>
detail::SleepAwaiter Engine::sleep(std::chrono::duration<Rep, Period> d) {
    return detail::SleepAwaiter(*this, detail::saturating_nanoseconds(d));
}

template <class T>
T Engine::run(Task<T> task) {
    std::exception_ptr error;
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
    bool finished = false;
    auto wrapper = [&](Task<T> t) -> Task<void> {
        try {
            if constexpr (std::is_void_v<T>) {
                co_await std::move(t);
                result.emplace(true);
            } else {
                result.emplace(co_await std::move(t));
            }
        } catch (...) {
            error = std::current_exception();
        }
        finished = true;
    };
    Task<void> w = wrapper(std::move(task));
    spawn(std::move(w));
    run_until_set(finished);
    if (error) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<T>) return std::move(*result);
}

}  // namespace pants
