// pants/detail/call_awaiter.hpp: what `co_await target.call(f)` waits on.
//
// f runs on the target engine (posted to it); its result travels back by a
// second post to the engine the coroutine awaits on, which resumes it
// there. The two threads share one State: f and its result are handed over
// through the posts (whose lock orders the writes); `abandoned` tells the
// target that nobody waits any more, so that f is skipped if not yet
// started. A cancel or a dying frame detaches the awaiter; a cancelled
// coroutine resumes on the next turn with operation_canceled.
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include <pants/detail/cancel.hpp>
#include <pants/result.hpp>
#include <pants/timer.hpp>

namespace pants {
class Engine;  // pants/engine.hpp includes this header once Engine is complete
}  // namespace pants

namespace pants::detail {

// `T`, named so that it depends on `D`: Engine is used inside templates
// before it is complete, and only looked into when they are instantiated.
template <class T, class D>
using Later = std::conditional_t<sizeof(D*) != 0, T, T>;


template <class F>
class CallAwaiter {
    using R = std::invoke_result_t<F&>;
    using Value = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

    struct State {
        explicit State(F&& fn) : f(std::move(fn)) {}
        std::optional<F> f;              // run and destroyed on the target
        std::atomic<bool> abandoned{false};
        std::optional<Value> value;      // written on the target, read on the origin
        std::exception_ptr error;
        CallAwaiter* awaiter = nullptr;  // origin thread only
    };

public:
    CallAwaiter(Engine& target, F f) : target_(target), state_(std::make_shared<State>(std::move(f))) {}
    CallAwaiter(const CallAwaiter&) = delete;
    CallAwaiter& operator=(const CallAwaiter&) = delete;
    ~CallAwaiter() {
        detach();  // the frame died while waiting: the reply finds nobody
        deferred_.cancel();
    }

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        cancel_ = cancel_state_of(h);
        if (cancel_ && cancel_->requested()) {
            cancelled_ = true;
            return false;
        }
        origin_ = Later<Engine, P>::current();
        if (!origin_) throw std::logic_error("pants: co_await engine.call() outside an engine's loop");
        waiter_ = h;
        state_->awaiter = this;
        static_cast<Later<Engine, P>&>(target_).post([s = state_, origin = static_cast<Later<Engine, P>*>(origin_)]() mutable {
            if (!s->abandoned.load(std::memory_order_acquire)) {
                try {
                    if constexpr (std::is_void_v<R>) {
                        (*s->f)();
                        s->value.emplace();
                    } else {
                        s->value.emplace((*s->f)());
                    }
                } catch (...) {
                    s->error = std::current_exception();
                }
            }
            s->f.reset();
            origin->post([s = std::move(s)] {
                if (s->awaiter) s->awaiter->finish();
            });
        });
        if (cancel_) cancel_->on_request(&CallAwaiter::on_cancel, this);
        return true;
    }

    /// f's result; operation_canceled if the coroutine was cancelled first;
    /// rethrows what f threw.
    Result<R> await_resume() {
        if (cancelled_) return fail(ECANCELED);
        if (state_->error) std::rethrow_exception(state_->error);
        if constexpr (std::is_void_v<R>)
            return ok();
        else
            return std::move(*state_->value);
    }

private:
    void detach() noexcept {
        if (!state_) return;
        state_->abandoned.store(true, std::memory_order_release);
        state_->awaiter = nullptr;
    }
    void finish() {
        state_->awaiter = nullptr;
        if (cancel_) cancel_->clear();
        waiter_.resume();
    }
    static void on_cancel(void* self) noexcept {
        auto* a = static_cast<CallAwaiter*>(self);
        a->cancelled_ = true;
        a->cancel_ = nullptr;
        a->detach();
        // Resume on the next turn, never inside the canceller's call.
        a->deferred_ = a->origin_->callback([a] { a->waiter_.resume(); });
    }

    Engine& target_;
    std::shared_ptr<State> state_;
    Engine* origin_ = nullptr;
    std::coroutine_handle<> waiter_;
    CancelState* cancel_ = nullptr;
    bool cancelled_ = false;
    Timer deferred_;
};

}  // namespace pants::detail
