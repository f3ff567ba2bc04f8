// pants/detail/deadline.hpp: delays and deadlines that saturate.
//
// A delay may come in any unit (`hours::max()`, `seconds::max()`), and
// `now + delay` must not wrap round into the past: a timer asked for in
// three hundred years would otherwise fire at once. Every place that turns
// a user's delay into a deadline goes through these two functions, and a
// delay too large for the clock means "never" (time_point::max()).
#pragma once

#include <chrono>
#include <type_traits>

namespace pants::detail {

/// `d` in nanoseconds, clamped to nanoseconds::min()..max() instead of
/// overflowing (a NaN counts as max: it never comes).
template <class Rep, class Period>
constexpr std::chrono::nanoseconds saturating_nanoseconds(std::chrono::duration<Rep, Period> d) noexcept {
    using Ns = std::chrono::nanoseconds;
    if constexpr (std::is_same_v<std::chrono::duration<Rep, Period>, Ns>) {
        return d;
    } else {
        // Compare in long double: it holds the bounds of every integer unit
        // without the overflow an integer duration_cast would hit.
        const std::chrono::duration<long double, std::nano> wide = d;
        if (!(wide < std::chrono::duration<long double, std::nano>(Ns::max()))) return Ns::max();
        if (!(wide > std::chrono::duration<long double, std::nano>(Ns::min()))) return Ns::min();
        if constexpr (std::is_floating_point_v<Rep>)
            return Ns(static_cast<Ns::rep>(wide.count()));
        else
            return std::chrono::duration_cast<Ns>(d);
    }
}

/// `now + delay` for a timer: a delay of zero or less is now, and a deadline
/// past the clock's range is time_point::max().
template <class Clock>
constexpr typename Clock::time_point deadline_after(typename Clock::time_point now,
                                                    typename Clock::duration delay) noexcept {
    using TimePoint = typename Clock::time_point;
    if (delay <= Clock::duration::zero()) return now;
    if (now.time_since_epoch() > TimePoint::max().time_since_epoch() - delay) return TimePoint::max();
    return now + delay;
}

}  // namespace pants::detail
