// pants/timer.hpp: the handle Engine returns for every scheduled callback.
//
// A Timer refers to one callback()/loop()/defer()/cycle() registration. It
// is cheap to copy (all copies name the same registration) and may outlive
// both the callback and the Engine. Use it on the engine's thread only.
#pragma once

#include <memory>

namespace pants {
namespace detail {
struct TimerState;
}

class Timer {
public:
    /// A handle that names nothing; cancel() does nothing.
    Timer() noexcept = default;
    explicit Timer(std::shared_ptr<detail::TimerState> state) noexcept : state_(std::move(state)) {}

    /// Stops the callback from running again. Safe to call twice, after a
    /// one-shot timer fired, or after its Engine is gone.
    void cancel() noexcept;

    /// True while the callback may still run.
    bool active() const noexcept;

private:
    std::shared_ptr<detail::TimerState> state_;
};

}  // namespace pants
