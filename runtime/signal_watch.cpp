#include "signal_watch.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

#include <pants/engine.hpp>

namespace pants::detail {

SignalWatch::SignalWatch(Engine& engine) : engine_(engine) {
    sigemptyset(&mask_);
    op_.kind = OpKind::read;
    op_.data = infos_;
    op_.size = sizeof infos_;
}

SignalWatch::~SignalWatch() {
    if (fd_ >= 0) engine_.backend().close(fd_);
}

Timer SignalWatch::add(int signo, Callback fn) {
    if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
        throw std::system_error(EINVAL, std::generic_category(), "pants: on_signal");
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    // Blocked first: a signal that arrives from now on stays pending for
    // the signalfd instead of running its default action.
    if (int err = pthread_sigmask(SIG_BLOCK, &one, nullptr); err != 0)
        throw std::system_error(err, std::generic_category(), "pants: blocking a signal");
    if (!sigismember(&mask_, signo)) {
        sigaddset(&mask_, signo);
        // Non-blocking for the epoll backend (it reads until EAGAIN);
        // io_uring polls a pollable file before it reads, so it waits anyway.
        int fd = ::signalfd(fd_, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0) throw std::system_error(errno, std::generic_category(), "pants: signalfd");
        fd_ = fd;
        op_.fd = fd_;
    }
    auto state = std::make_shared<TimerState>();
    state->fn = std::move(fn);
    state->kind = TimerState::Kind::every_turn;
    entries_.push_back({signo, state});
    arm();
    return Timer(std::move(state));
}

void SignalWatch::arm() {
    if (!op_.in_flight && !stopping_) engine_.backend().submit(op_);
}

void SignalWatch::stop() noexcept {
    stopping_ = true;
    if (op_.in_flight) engine_.backend().cancel(op_);
}

void SignalWatch::on_read(Operation& op, const Completion& c) {
    SignalWatch& w = *static_cast<ReadOp&>(op).watch;
    if (c.result > 0) {
        const auto n = std::size_t(c.result) / sizeof(signalfd_siginfo);
        for (std::size_t i = 0; i < n; ++i) w.deliver(int(w.infos_[i].ssi_signo));
    }
    std::erase_if(w.entries_, [](const Entry& e) { return !e.state->active; });
    // Nobody listens any more: stop reading (the signals stay blocked, and
    // pending ones wait for the next add()).
    if (w.entries_.empty() || w.stopping_ || c.result == -ECANCELED) return;
    if (c.result < 0 && c.result != -EAGAIN && c.result != -EINTR) {
        // Reading again would fail the same way and spin: say so and stop.
        w.engine_.report(std::make_exception_ptr(
            std::system_error(-c.result, std::generic_category(), "pants: reading the signalfd")));
        return;
    }
    w.arm();
}

void SignalWatch::deliver(int signo) {
    // Index loop: a callback may add another handler (it runs from the
    // next signal on).
    const std::size_t count = entries_.size();
    for (std::size_t i = 0; i < count; ++i) {
        auto state = entries_[i].state;  // a callback may cancel, or clear entries_
        if (entries_[i].signo == signo && state->active) engine_.invoke(*state);
    }
}

}  // namespace pants::detail

// --- SignalAwaiter ------------------------------------------------------------

namespace pants::detail {

SignalAwaiter::SignalAwaiter(Engine& engine, std::initializer_list<int> signals) : engine_(engine) {
    if (signals.size() == 0 || signals.size() > max_signals)
        throw std::system_error(EINVAL, std::generic_category(), "pants: signal() takes 1 to 8 signals");
    for (int s : signals) signals_[count_++] = s;
}

SignalAwaiter::~SignalAwaiter() {
    drop_handlers();  // the frame died while waiting
    deferred_.cancel();
}

void SignalAwaiter::drop_handlers() noexcept {
    for (std::size_t i = 0; i < count_; ++i) handlers_[i].cancel();
}

bool SignalAwaiter::suspend(std::coroutine_handle<> h, CancelState* cancel) {
    cancel_ = cancel;
    if (cancel_ && cancel_->requested()) return false;
    waiter_ = h;
    for (std::size_t i = 0; i < count_; ++i)
        handlers_[i] = engine_.on_signal(signals_[i], [this](int signo) { fire(signo); });
    if (cancel_) cancel_->on_request(&SignalAwaiter::on_cancel, this);
    return true;
}

void SignalAwaiter::fire(int signo) {
    drop_handlers();
    if (cancel_) cancel_->clear();
    signo_ = signo;
    waiter_.resume();  // may destroy this awaiter's frame: nothing after it
}

void SignalAwaiter::on_cancel(void* self) noexcept {
    auto* s = static_cast<SignalAwaiter*>(self);
    s->drop_handlers();
    s->cancel_ = nullptr;
    // Resume on the next turn, never inside the canceller's call.
    s->deferred_ = s->engine_.callback([s] { s->waiter_.resume(); });
}

Result<int> SignalAwaiter::await_resume() const noexcept {
    if (signo_ == 0) return fail(ECANCELED);
    return signo_;
}

}  // namespace pants::detail
