// Watches on descriptors from elsewhere: Engine::watch() and the
// readable() / writable() awaiters. One WatchState per watch or wait owns
// the poll operation; it lives until the kernel has given the operation back
// and nobody (handle, awaiter) refers to it any more.
#include <pants/engine.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <system_error>
#include <utility>

namespace pants {
namespace detail {
namespace {

// 0, or why `fd` cannot be watched: it is not open, or it is a kind of file
// poll(2) calls always ready (epoll refuses those outright), so a watch on it
// would either fail on one backend or spin on the other.
int unwatchable(int fd) noexcept {
    struct stat st{};
    if (fd < 0 || ::fstat(fd, &st) < 0) return EBADF;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) return EPERM;
    return 0;
}

}  // namespace

struct WatchState final : Operation, EngineClient {
    WatchState(Engine& e, int watched, FdEvents wanted, bool stays) : Operation(&WatchState::on_complete), engine(&e) {
        kind = OpKind::poll;
        fd = watched;
        poll_events = std::uint32_t(wanted);
        multishot = stays;
        e.attach(*this);
    }
    ~WatchState() {
        if (!gone) engine->detach(*this);
    }

    Engine* engine;
    std::function<void(FdEvents)> callback;  // a watch
    FdReadyAwaiter* awaiter = nullptr;      // a one-shot wait
    bool owned = true;      // the handle (or awaiter) still refers to it
    bool stopped = false;   // cancel(), a failure, or the engine stopping
    bool rearm = false;     // modify(): submit again once the old poll is back
    bool gone = false;      // the engine was destroyed
    std::error_code failure;

    void start() { engine->backend().submit(*this); }

    void stop() noexcept {
        stopped = true;
        if (in_flight && !gone) engine->backend().cancel(*this);
    }

    // Frees this once nothing refers to it and the kernel is done with it
    // (or the engine, and with it the ring, is gone).
    void maybe_free() noexcept {
        if (!owned && (!in_flight || gone)) delete this;
    }

    void engine_stopping() noexcept override { stop(); }
    void engine_gone() noexcept override {
        gone = true;
        stopped = true;
        if (!owned) delete this;
    }

    static void on_complete(Operation& op, const Completion& c) {
        auto& s = static_cast<WatchState&>(op);
        if (s.awaiter) return s.finish_wait(c);
        if (c.result >= 0) {
            s.deliver(FdEvents(std::uint32_t(c.result)));
        } else if (c.result != -ECANCELED && !s.stopped) {
            // The poll itself failed (EBADF, ...): the watch is over; say so.
            s.failure = std::error_code(-c.result, std::generic_category());
            s.stopped = true;
            s.deliver(FdEvents::error);
        }
        if (c.more || s.in_flight) return;
        if (s.owned && !s.stopped && !s.gone) {
            // modify() cancelled the old poll (or the kernel ended it):
            // arm again; the new poll checks readiness afresh.
            s.rearm = false;
            return s.start();
        }
        s.maybe_free();
    }

    void deliver(FdEvents ready) {
        // A cancel() earlier in this batch (from another callback, say)
        // means this event is no longer wanted.
        ready = wanted(ready);
        if (!owned || (stopped && !failure) || ready == FdEvents::none) return;
        try {
            callback(ready);
        } catch (...) {
            engine->report(std::current_exception());
        }
    }

    // Only what is asked for now (modify() may have narrowed it while an
    // older poll was still armed), plus error and hangup, which always count.
    FdEvents wanted(FdEvents ready) const noexcept {
        return ready & (FdEvents(poll_events) | FdEvents::error | FdEvents::hangup);
    }

    void finish_wait(const Completion& c) {
        if (c.more) return;  // one-shot: only the final completion counts
        FdReadyAwaiter* a = std::exchange(awaiter, nullptr);
        a->result_ = c.result;
        a->state_ = nullptr;
        if (a->cancel_) a->cancel_->clear();
        owned = false;
        std::coroutine_handle<> h = a->waiter_;
        delete this;  // before resuming: the coroutine may destroy the engine
        h.resume();
    }
};

}  // namespace detail

// --- Engine ------------------------------------------------------------------

FdWatch Engine::watch(int fd, FdEvents events, std::function<void(FdEvents)> f) {
    if (int err = detail::unwatchable(fd)) throw std::system_error(err, std::generic_category(), "pants: watch");
    auto* s = new detail::WatchState(*this, fd, events, true);
    s->callback = std::move(f);
    s->start();
    return FdWatch(s);
}

// --- FdWatch -----------------------------------------------------------------

FdWatch::FdWatch(FdWatch&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}

FdWatch& FdWatch::operator=(FdWatch&& other) noexcept {
    if (this != &other) {
        cancel();
        state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
}

FdWatch::~FdWatch() { cancel(); }

void FdWatch::modify(FdEvents events) {
    detail::WatchState* s = state_;
    if (!s || s->stopped) return;
    s->poll_events = std::uint32_t(events);
    // Cancel and arm again (on_complete does it): the new poll looks at the
    // descriptor's state now, as a new watch would.
    if (s->in_flight && !s->rearm) {
        s->rearm = true;
        s->engine->backend().cancel(*s);
    }
}

void FdWatch::cancel() noexcept {
    detail::WatchState* s = std::exchange(state_, nullptr);
    if (!s) return;
    s->owned = false;
    s->stop();
    s->maybe_free();
}

bool FdWatch::active() const noexcept { return state_ && !state_->stopped; }
FdEvents FdWatch::events() const noexcept { return state_ ? FdEvents(state_->poll_events) : FdEvents::none; }
int FdWatch::fd() const noexcept { return state_ ? state_->fd : -1; }
std::error_code FdWatch::error() const noexcept { return state_ ? state_->failure : std::error_code(); }

// --- co_await engine.readable(fd) / writable(fd) -------------------------------

namespace detail {

FdReadyAwaiter::~FdReadyAwaiter() {
    // The frame died while waiting: the poll finishes without us.
    if (WatchState* s = std::exchange(state_, nullptr)) {
        s->awaiter = nullptr;
        s->owned = false;
        if (cancel_) cancel_->clear();
        s->stop();
        s->maybe_free();
    }
}

bool FdReadyAwaiter::suspend(std::coroutine_handle<> h, CancelState* cancel) {
    if (cancel && cancel->requested()) {
        result_ = -ECANCELED;
        return false;
    }
    if (int err = unwatchable(fd_)) {
        result_ = -err;
        return false;
    }
    waiter_ = h;
    cancel_ = cancel;
    state_ = new WatchState(*engine_, fd_, events_, false);
    state_->awaiter = this;
    state_->start();
    if (cancel_) cancel_->on_request(&FdReadyAwaiter::on_cancel, this);
    return true;
}

void FdReadyAwaiter::on_cancel(void* self) noexcept {
    // The poll comes back with ECANCELED (or its result, if it won the
    // race) on a later turn, and resumes the coroutine then.
    auto* a = static_cast<FdReadyAwaiter*>(self);
    if (a->state_) a->state_->stop();
}

Result<FdEvents> FdReadyAwaiter::await_resume() const noexcept {
    if (result_ < 0) return fail(-result_);
    return FdEvents(std::uint32_t(result_));
}

}  // namespace detail
}  // namespace pants
