// pants/detail/shared_rule.hpp: an immutable value shared by its copies,
// held through one pointer (std::shared_ptr holds two).
//
// A ReadDelimiter keeps what its kind needs beyond numbers (a long
// delimiter, a FrameFunction, a compiled regex, a packed format) in one;
// every stream has a ReadDelimiter, so its size is paid per connection.
// Copies may live on several threads (the count is atomic); the value is
// never changed after make().
#pragma once

#include <atomic>
#include <cstddef>
#include <utility>

namespace pants::detail {

class SharedRule {
public:
    SharedRule() noexcept = default;
    /// A new T made from `args`, shared by the copies of the result.
    template <class T, class... Args>
    static SharedRule make(Args&&... args) {
        auto* box = new Box<T>(std::forward<Args>(args)...);
        box->value = &box->held;
        box->destroy = [](BoxBase* b) noexcept { delete static_cast<Box<T>*>(b); };
        return SharedRule(box);
    }
    SharedRule(const SharedRule& other) noexcept : box_(other.box_) {
        if (box_) box_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    SharedRule(SharedRule&& other) noexcept : box_(std::exchange(other.box_, nullptr)) {}
    SharedRule& operator=(SharedRule other) noexcept {
        std::swap(box_, other.box_);
        return *this;
    }
    ~SharedRule() {
        if (box_ && box_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) box_->destroy(box_);
    }

    explicit operator bool() const noexcept { return box_ != nullptr; }
    /// The value, which must be the T it was made with; null if empty.
    /// (T may be incomplete here.)
    template <class T>
    const T* get() const noexcept {
        return box_ ? static_cast<const T*>(box_->value) : nullptr;
    }

private:
    // What get() and the destructor need, without knowing T.
    struct BoxBase {
        std::atomic<std::size_t> refs{1};
        void (*destroy)(BoxBase*) noexcept;
        const void* value;
    };
    template <class T>
    struct Box final : BoxBase {
        template <class... Args>
        explicit Box(Args&&... args) : held(std::forward<Args>(args)...) {}
        const T held;
    };
    explicit SharedRule(BoxBase* box) noexcept : box_(box) {}

    BoxBase* box_ = nullptr;
};

}  // namespace pants::detail
