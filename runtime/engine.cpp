#include <pants/engine.hpp>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "signal_watch.hpp"

namespace pants {
namespace {

using detail::TimerState;

void print_error(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pants: uncaught exception in callback: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "pants: uncaught non-standard exception in callback\n");
    }
}

detail::BackendConfig backend_config(const Engine::Options& o) {
    return detail::BackendConfig{o.ring_entries, o.buffer_count, o.buffer_size};
}

thread_local Engine* current_engine = nullptr;

// Engine::current() for the length of one loop turn.
class CurrentEngine {
public:
    explicit CurrentEngine(Engine* e) noexcept : saved_(std::exchange(current_engine, e)) {}
    ~CurrentEngine() { current_engine = saved_; }
    CurrentEngine(const CurrentEngine&) = delete;
    CurrentEngine& operator=(const CurrentEngine&) = delete;

private:
    Engine* saved_;
};

// One more level of Engine::in_turn() for a scope, undone also when the
// turn throws.
class TurnScope {
public:
    explicit TurnScope(int& depth) noexcept : depth_(depth) { ++depth_; }
    ~TurnScope() { --depth_; }
    TurnScope(const TurnScope&) = delete;
    TurnScope& operator=(const TurnScope&) = delete;

private:
    int& depth_;
};

}  // namespace

Engine* Engine::current() noexcept { return current_engine; }

Engine& Engine::instance() {
    static Engine engine;
    return engine;
}

Engine::Engine() : Engine(Options{}) {}

Engine::Engine(const Options& options)
    : backend_(detail::make_backend(options.backend, backend_config(options))),
      error_handler_(print_error) {
    backend_->set_error_sink([this](std::exception_ptr e) { report(e); });
}

Engine::~Engine() {
    // Teardown is a protocol: cancel every detached coroutine, then turn the
    // loop until their operations' completions have come back, so no
    // memory the kernel still points at is freed under it.
    // Channels still open are closed first, so that their operations come
    // back (a multishot receive would otherwise never end).
    for (auto* c = clients_; c; c = c->next_) c->engine_stopping();
    if (signals_) signals_->stop();
    for (auto* d = detached_; d; d = d->next()) d->cancel_state()->request();
    // An io_uring engine destroyed off the thread that ran it cannot turn:
    // what is in flight stays there, and the ring's teardown cancels it.
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    while (backend_->can_turn_here() && (detached_ || backend_->in_flight() > 0 || !next_turn_.empty()) &&
           Clock::now() < deadline)
        poll(std::chrono::milliseconds(10));
    // Whatever is still suspended will never be resumed: free its frame.
    while (detached_) std::coroutine_handle<detail::DetachedPromise>::from_promise(*detached_).destroy();
    signals_.reset();
    // Channels that outlive us become inert (and free themselves if no one
    // owns them).
    while (auto* c = clients_) {
        detach(*c);
        c->engine_gone();
    }
}

void Engine::attach(detail::EngineClient& c) noexcept {
    c.prev_ = nullptr;
    c.next_ = clients_;
    if (clients_) clients_->prev_ = &c;
    clients_ = &c;
}

void Engine::detach(detail::EngineClient& c) noexcept {
    (c.prev_ ? c.prev_->next_ : clients_) = c.next_;
    if (c.next_) c.next_->prev_ = c.prev_;
    c.prev_ = c.next_ = nullptr;
}

// Inline in its three callers: start()'s loop pays no call per turn.
[[gnu::always_inline]] inline void Engine::turn(Duration timeout) {
    // A turn's fixed cost is what one connection pays per message, and most
    // turns have only I/O: one branch on each side of the wait covers the
    // rest (| not ||: byte loads are cheaper than jumps).
    if (flush_head_) run_flushes();
    // A flush may run user code (epoll sends at once and calls on_write),
    // which may write again: that flush is due now, and no event would
    // come to end the wait for it.
    if (attention_ | (flush_head_ != nullptr) | has_posted_.load(std::memory_order_relaxed) |
        stop_requested_.load(std::memory_order_relaxed))
        timeout = wait_limit(timeout);
    backend_->run_once(timeout);
    if (attention_ | has_posted_.load(std::memory_order_relaxed)) after_wait();
}

void Engine::start() {
    running_ = true;
    // Once for the whole loop, not per turn: a thread_local in a shared
    // library costs a __tls_get_addr call each time.
    CurrentEngine current(this);
    TurnScope scope(turn_depth_);  // undone also when a turn throws
    // A stop() that came before start() ends it after one turn (which
    // does not wait: turn() checks for a stop before it waits).
    do {
        turn(Duration::max());
    } while (!stop_requested_.load(std::memory_order_relaxed));
    stop_requested_ = false;
    running_ = false;
}

void Engine::run_until_set(const bool& done) {
    // As start(), not a poll() per turn: the current engine is set once,
    // and a turn waits with no timeout of its own (a timed wait cost the
    // kernel a timeout to arm and liburing a slower wait, every turn).
    // `done` is set by a coroutine, inside a turn.
    CurrentEngine current(this);
    TurnScope scope(turn_depth_);
    while (!done) turn(Duration::max());
}

void Engine::stop() noexcept {
    stop_requested_ = true;
    backend_->wake();
}

bool Engine::run_until(const std::function<bool()>& done, Duration limit) {
    const auto deadline = detail::deadline_after<Clock>(Clock::now(), limit);
    while (!done()) {
        const auto now = Clock::now();
        if (now >= deadline) return false;
        poll(std::min<Duration>(deadline - now, std::chrono::milliseconds(100)));
    }
    return true;
}

void Engine::poll(Duration timeout) {
    CurrentEngine current(this);
    TurnScope scope(turn_depth_);
    turn(timeout);
}

Engine::Duration Engine::wait_limit(Duration timeout) const {
    if (flush_head_ || has_posted_.load(std::memory_order_relaxed) || stop_requested_.load(std::memory_order_relaxed) ||
        has_turn_callbacks())
        return Duration::zero();
    if (timers_.empty()) return timeout;
    return std::min(timeout, std::max(Duration::zero(), Duration(timers_.next_deadline() - Clock::now())));
}

void Engine::after_wait() {
    if (has_posted_.load(std::memory_order_relaxed)) run_posted();
    if (!timers_.empty()) run_timers();  // also saves the clock read
    if (has_turn_callbacks()) run_turn_callbacks();
    // Wake-ups for other engines queued this turn leave now, not at our
    // next wait (which may never come if this loop is stopping).
    if (backend_->notifications_queued()) backend_->flush_notifications();
    // Last, so that whatever the steps above added keeps it set.
    attention_ = !timers_.empty() || has_turn_callbacks() || backend_->notifications_queued();
}

void Engine::invoke(TimerState& t) noexcept {
    t.running = true;
    try {
        t.fn();
    } catch (...) {
        report(std::current_exception());
    }
    t.running = false;
    if (!t.active && !t.reusable) t.fn = {};
}

void Engine::run_posted() {
    if (!has_posted_.load(std::memory_order_acquire)) return;
    std::vector<detail::Callback> batch;
    {
        std::lock_guard lock(posted_mutex_);
        batch.swap(posted_);
        has_posted_ = false;
    }
    for (auto& f : batch) {
        try {
            f();
        } catch (...) {
            report(std::current_exception());
        }
    }
}

void Engine::run_timers() {
    const auto now = Clock::now();
    // Only timers due now: a cycle re-armed below lands in the future.
    while (auto t = timers_.pop_due(now)) {
        if (t->kind == TimerState::Kind::cycle) {
            // Keep the phase; if we fell behind, skip the missed beats.
            t->deadline = detail::deadline_after<Clock>(t->deadline, t->interval);
            if (t->deadline <= now) t->deadline = detail::deadline_after<Clock>(now, t->interval);
            timers_.push(t);
        } else {
            t->active = false;
        }
        invoke(*t);
    }
}

void Engine::run_turn_callbacks() {
    if (!next_turn_.empty()) {
        scratch_.swap(next_turn_);  // callbacks added now run next turn
        for (auto& t : scratch_) {
            if (!t->active) continue;
            t->active = false;
            invoke(*t);
        }
        scratch_.clear();
    }
    if (!every_turn_.empty()) {
        // Index loop: a loop() callback may add another loop().
        for (std::size_t i = 0; i < every_turn_.size(); ++i) {
            auto t = every_turn_[i];
            if (t->active) invoke(*t);
        }
        std::erase_if(every_turn_, [](const auto& t) { return !t->active; });
    }
}

Timer Engine::add_turn(TimerState::Kind kind, detail::Callback fn) {
    auto t = std::make_shared<TimerState>();
    t->fn = std::move(fn);
    t->kind = kind;
    (kind == TimerState::Kind::next_turn ? next_turn_ : every_turn_).push_back(t);
    attention_ = true;
    return Timer(std::move(t));
}

Timer Engine::add_deadline(Duration delay, Duration interval, detail::Callback fn) {
    if (interval < Duration::zero() || (interval == Duration::zero() && delay < Duration::zero()))
        delay = Duration::zero();
    auto t = std::make_shared<TimerState>();
    t->fn = std::move(fn);
    t->kind = interval > Duration::zero() ? TimerState::Kind::cycle : TimerState::Kind::deadline;
    t->interval = interval;
    t->deadline = detail::deadline_after<Clock>(Clock::now(), delay);
    timers_.push(t);
    attention_ = true;
    return Timer(std::move(t));
}

void Engine::schedule(std::shared_ptr<TimerState> t) {
    timers_.push(std::move(t));
    attention_ = true;
}

std::shared_ptr<TimerState> Engine::reusable_callback(detail::Callback fn) {
    auto t = std::make_shared<TimerState>();
    t->fn = std::move(fn);
    t->kind = TimerState::Kind::next_turn;
    t->active = false;
    t->reusable = true;
    return t;
}

void Engine::schedule_turn(const std::shared_ptr<TimerState>& t) {
    assert(t->kind == TimerState::Kind::next_turn && t->reusable && t->fn);
    if (t->active) return;
    t->active = true;
    next_turn_.push_back(t);
    attention_ = true;
}

void Engine::cancel_flush(detail::TurnFlush& f) noexcept {
    if (!f.flush_next_) return;
    // Rare (a channel closing with a write queued this turn): a walk of
    // this turn's list, or of what run_flushes() has still to run.
    auto unlink = [&](detail::TurnFlush*& head, detail::TurnFlush** tail) {
        detail::TurnFlush* prev = nullptr;
        for (detail::TurnFlush* p = head; p && p != flush_end(); prev = p, p = p->flush_next_) {
            if (p != &f) continue;
            detail::TurnFlush* next = p->flush_next_;
            if (prev)
                prev->flush_next_ = next;  // flush_end() if p was last
            else
                head = next == flush_end() ? nullptr : next;
            if (tail && *tail == p) *tail = prev;
            return true;
        }
        return false;
    };
    if (!unlink(flush_head_, &flush_tail_)) unlink(flushing_, nullptr);
    f.flush_next_ = nullptr;
}

void Engine::run_flushes() {
    // This turn's list; flushes queued while it runs go to the next turn's.
    detail::TurnFlush* list = std::exchange(flush_head_, nullptr);
    flush_tail_ = nullptr;
    if (flushing_ && flushing_ != flush_end()) {
        // A flush ran a nested turn (poll() from user code): this turn
        // takes over what the outer one had left, ahead of the new ones;
        // the outer loop then finds nothing left.
        if (list) {
            detail::TurnFlush* last = flushing_;
            while (last->flush_next_ != flush_end()) last = last->flush_next_;
            last->flush_next_ = list;
        }
        list = flushing_;
    }
    flushing_ = list;
    while (flushing_ && flushing_ != flush_end()) {
        detail::TurnFlush* f = flushing_;
        flushing_ = std::exchange(f->flush_next_, nullptr);
        try {
            f->flush();
        } catch (...) {
            report(std::current_exception());
        }
    }
    flushing_ = nullptr;
}

void Engine::post(detail::Callback f) {
    bool first;
    {
        std::lock_guard lock(posted_mutex_);
        posted_.push_back(std::move(f));
        first = !has_posted_.exchange(true, std::memory_order_acq_rel);
    }
    // One wake-up per batch: whoever made the queue non-empty wakes the
    // engine, and run_posted() takes the whole batch.
    if (!first) return;
    Engine* from = current_engine;
    if (from == this) return;  // our own loop checks has_posted_ before it waits
    if (from) {
        from->backend_->notify(*backend_);  // sent with from's next submission,
        from->attention_ = true;            // or by its after_wait()
    } else
        backend_->wake();
}

Timer Engine::add_signal(int signo, detail::Callback fn) {
    if (!signals_) signals_ = std::make_unique<detail::SignalWatch>(*this);
    return signals_->add(signo, std::move(fn));
}

void Engine::set_error_handler(std::function<void(std::exception_ptr)> handler) {
    error_handler_ = handler ? std::move(handler) : print_error;
}

void Engine::report(std::exception_ptr error) noexcept {
    try {
        error_handler_(error);
    } catch (...) {
        print_error(std::current_exception());
    }
}

std::size_t Engine::pending_timers() const noexcept {
    std::size_t n = timers_.size();
    for (auto& t : next_turn_) n += t->active;
    for (auto& t : every_turn_) n += t->active;
    return n;
}

std::size_t Engine::detached_tasks() const noexcept { return detached_count_; }

}  // namespace pants
