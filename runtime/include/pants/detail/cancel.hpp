// pants/detail/cancel.hpp: how a cancel request reaches the operation a
// coroutine chain is suspended on.
//
// Each chain of Tasks (a spawned task, a when_any / when_all branch) has one
// CancelState; awaited Tasks share their parent's. The leaf awaitable a
// coroutine is suspended on registers a handler; request() runs it, which
// asks the backend to cancel. The leaf still resumes only when the kernel's
// completion arrives (DESIGN.md, Buffer lifetime).
#pragma once

#include <coroutine>

namespace pants::detail {

class CancelState {
public:
    using Handler = void (*)(void* target);

    bool requested() const noexcept { return requested_; }

    /// Asks whatever is pending to stop; later leaves see requested().
    void request() noexcept {
        if (requested_) return;
        requested_ = true;
        if (handler_) {
            Handler h = handler_;
            handler_ = nullptr;
            h(target_);
        }
    }

    /// The leaf now suspended: `h(target)` runs on request().
    void on_request(Handler h, void* target) noexcept {
        handler_ = h;
        target_ = target;
    }
    void clear() noexcept { handler_ = nullptr; }

private:
    bool requested_ = false;
    Handler handler_ = nullptr;
    void* target_ = nullptr;
};

/// The CancelState of the coroutine behind `h`, if its promise has one.
template <class Promise>
CancelState* cancel_state_of(std::coroutine_handle<Promise> h) noexcept {
    if constexpr (requires { h.promise().cancel_state(); })
        return h.promise().cancel_state();
    else
        return nullptr;
}

}  // namespace pants::detail
