// net/scoped_flag.hpp: sets a bool for the length of a scope (re-entrancy
// guards such as "delivering" and "notifying" in the channel I/O states).
#pragma once

#include <utility>

namespace pants::detail {

class ScopedFlag {
public:
    explicit ScopedFlag(bool& flag) noexcept : flag_(&flag) { flag = true; }
    ScopedFlag(const ScopedFlag&) = delete;
    ScopedFlag& operator=(const ScopedFlag&) = delete;
    ~ScopedFlag() { release(); }
    /// Clears the flag now rather than at the end of the scope.
    void release() noexcept {
        if (flag_) *std::exchange(flag_, nullptr) = false;
    }

private:
    bool* flag_;
};

}  // namespace pants::detail
