// pants/detail/signal_awaiter.hpp: what `co_await engine.signal(...)` waits on.
//
// Registers one handler per signal when the coroutine suspends and drops
// them all at the first arrival, at a cancel, or when its frame dies.
#pragma once

#include <array>
#include <coroutine>
#include <cstddef>
#include <initializer_list>

#include <pants/detail/cancel.hpp>
#include <pants/result.hpp>
#include <pants/timer.hpp>

namespace pants {
class Engine;
}

namespace pants::detail {

class SignalAwaiter {
public:
    static constexpr std::size_t max_signals = 8;

    SignalAwaiter(Engine& engine, std::initializer_list<int> signals);
    SignalAwaiter(const SignalAwaiter&) = delete;
    SignalAwaiter& operator=(const SignalAwaiter&) = delete;
    ~SignalAwaiter();

    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return suspend(h, cancel_state_of(h));
    }
    /// The signal that arrived, or operation_canceled.
    Result<int> await_resume() const noexcept;

private:
    bool suspend(std::coroutine_handle<> h, CancelState* cancel);
    void fire(int signo);
    void drop_handlers() noexcept;
    static void on_cancel(void* self) noexcept;

    Engine& engine_;
    std::array<int, max_signals> signals_{};
    std::size_t count_ = 0;
    std::array<Timer, max_signals> handlers_{};
    std::coroutine_handle<> waiter_;
    CancelState* cancel_ = nullptr;
    int signo_ = 0;  // 0: cancelled
    Timer deferred_;  // resumption after a cancel, on the next turn
};

}  // namespace pants::detail
