// Turns the resolver's callback operations into co_await-able ones.
#pragma once

#include <coroutine>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include <pants/detail/cancel.hpp>
#include <pants/engine.hpp>

namespace pants::dns::detail {

/// Awaits one call of the `deliver` function that `start(deliver)` hands
/// to a callback operation (which calls it on a later turn). If the
/// awaiting coroutine is cancelled first (when_any, with_timeout), it
/// resumes on the next turn with `cancelled` and the late answer is ignored.
template <class T>
class CallbackAwaiter {
public:
    using Deliver = std::function<void(T)>;

    CallbackAwaiter(Engine& engine, T cancelled, std::function<void(Deliver)> start)
        : slot_(std::make_shared<Slot>()), start_(std::move(start)) {
        slot_->engine = &engine;
        slot_->cancelled = std::move(cancelled);
    }

    bool await_ready() const noexcept { return false; }

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        slot_->waiter = h;
        slot_->cancel = pants::detail::cancel_state_of(h);
        if (slot_->cancel && slot_->cancel->requested()) {
            slot_->value = std::move(slot_->cancelled);
            return false;
        }
        // The operation's callback holds the slot: it may run after this
        // frame is gone (cancelled), and then must find `done` set.
        start_([slot = slot_](T value) {
            if (slot->done) return;
            slot->done = true;
            slot->value = std::move(value);
            if (slot->cancel) slot->cancel->clear();
            slot->waiter.resume();
        });
        if (slot_->cancel) slot_->cancel->on_request(&CallbackAwaiter::on_cancel, slot_.get());
        return true;
    }

    T await_resume() { return std::move(*slot_->value); }

private:
    struct Slot {
        Engine* engine = nullptr;
        std::coroutine_handle<> waiter;
        pants::detail::CancelState* cancel = nullptr;
        std::optional<T> value;
        std::optional<T> cancelled;
        bool done = false;
    };

    static void on_cancel(void* p) noexcept {
        auto* slot = static_cast<Slot*>(p);
        if (slot->done) return;
        slot->done = true;
        slot->value = std::move(*slot->cancelled);
        slot->cancel = nullptr;
        // Resume on the next turn, never inside the canceller's call. The
        // frame (and this awaiter's shared slot) lives until then.
        slot->engine->callback([slot] { slot->waiter.resume(); });
    }

    std::shared_ptr<Slot> slot_;
    std::function<void(Deliver)> start_;
};

}  // namespace pants::dns::detail
