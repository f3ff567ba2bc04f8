// pants/detail/callback.hpp: a move-only `void()` callable (std::function
// needs copyable targets; timer callbacks may own move-only state).
//
// Type erasure through two function pointers rather than a virtual base:
// no vtable to check, one indirect call.
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace pants::detail {

class Callback {
public:
    Callback() noexcept = default;
    template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Callback>>>
    Callback(F&& f)
        : target_(new std::decay_t<F>(std::forward<F>(f))),
          call_([](void* p) { (*static_cast<std::decay_t<F>*>(p))(); }),
          destroy_([](void* p) noexcept { delete static_cast<std::decay_t<F>*>(p); }) {}
    Callback(Callback&& other) noexcept
        : target_(std::exchange(other.target_, nullptr)), call_(other.call_), destroy_(other.destroy_) {}
    Callback& operator=(Callback&& other) noexcept {
        if (this != &other) {
            reset();
            target_ = std::exchange(other.target_, nullptr);
            call_ = other.call_;
            destroy_ = other.destroy_;
        }
        return *this;
    }
    Callback(const Callback&) = delete;
    Callback& operator=(const Callback&) = delete;
    ~Callback() { reset(); }

    explicit operator bool() const noexcept { return target_ != nullptr; }
    void operator()() { call_(target_); }

private:
    void reset() noexcept {
        if (target_) destroy_(std::exchange(target_, nullptr));
    }
    void* target_ = nullptr;
    void (*call_)(void*) = nullptr;
    void (*destroy_)(void*) noexcept = nullptr;
};

/// Binds extra arguments to f, as Pants' timers forward them.
template <class F, class... Args>
Callback bind_callback(F&& f, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) {
        return Callback(std::forward<F>(f));
    } else {
        return Callback([f = std::forward<F>(f), ... args = std::forward<Args>(args)]() mutable {
            std::invoke(f, args...);
        });
    }
}

}  // namespace pants::detail
