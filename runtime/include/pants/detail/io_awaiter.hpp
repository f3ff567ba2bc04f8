// pants/detail/io_awaiter.hpp: co_await on one single-shot Operation.
//
// Submits the operation when the coroutine suspends and resumes it with the
// result (>= 0, or -errno) when the final completion arrives. A cancel
// request on the coroutine asks the backend to cancel; the coroutine still
// resumes only when the kernel has given the operation back.
#pragma once

#include <coroutine>

#include <pants/detail/backend.hpp>
#include <pants/detail/cancel.hpp>

namespace pants::detail {

class IoAwaiter : public Operation {
public:
    explicit IoAwaiter(Backend& backend) noexcept : Operation(&IoAwaiter::on_complete), backend_(backend) {}

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        cancel_ = cancel_state_of(h);
        if (cancel_ && cancel_->requested()) {
            result_ = -ECANCELED;
            return false;
        }
        waiter_ = h;
        backend_.submit(*this);
        if (cancel_) cancel_->on_request(&IoAwaiter::on_cancel, this);
        return true;
    }
    /// The operation's result: >= 0, or -errno.
    int await_resume() const noexcept { return result_; }

private:
    static void on_complete(Operation& op, const Completion& c) {
        auto& self = static_cast<IoAwaiter&>(op);
        if (c.more) return;
        self.result_ = c.result;
        if (self.cancel_) self.cancel_->clear();
        self.waiter_.resume();
    }
    static void on_cancel(void* self) noexcept {
        auto* s = static_cast<IoAwaiter*>(self);
        s->backend_.cancel(*s);
    }

    Backend& backend_;
    CancelState* cancel_ = nullptr;
    std::coroutine_handle<> waiter_;
    int result_ = 0;
};

}  // namespace pants::detail
