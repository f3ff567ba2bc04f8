// pants/detail/callback.hpp: a move-only `void()` callable (std::function
// needs copyable targets; timer callbacks may own move-only state).
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
    Callback(F&& f) : impl_(std::make_unique<Model<std::decay_t<F>>>(std::forward<F>(f))) {}

    explicit operator bool() const noexcept { return bool(impl_); }
    void operator()() { impl_->call(); }

private:
    struct Concept {
        virtual ~Concept() = default;
        virtual void call() = 0;
    };
    template <class F>
    struct Model final : Concept {
        explicit Model(F&& f) : fn(std::move(f)) {}
        explicit Model(const F& f) : fn(f) {}
        void call() override { fn(); }
        F fn;
    };
    std::unique_ptr<Concept> impl_;
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
