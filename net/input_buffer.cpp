// InputBuffer: the slow path of append, when the bytes do not fit at the back.
#include <pants/detail/input_buffer.hpp>

#include <algorithm>
#include <stdexcept>

namespace pants::detail {

void InputBuffer::make_room(std::size_t n) {
    const std::size_t live = size();
    // Compact only when the gap in front is at least as large as the live
    // bytes: the move then costs no more than the consumes that made the
    // gap, so each byte is moved O(1) times on average. Otherwise grow,
    // which doubles and so is amortised O(1) as well.
    if (begin_ >= live && capacity_ - live >= n) {
        std::memmove(data_.get(), data_.get() + begin_, live);
        begin_ = 0;
        end_ = live;
        return;
    }
    if (n > SIZE_MAX / 2 - live)
        throw std::length_error("InputBuffer: too large");
    const std::size_t capacity = std::max(live + n, capacity_ * 2);
    auto fresh = std::make_unique_for_overwrite<char[]>(capacity);
    if (live != 0)
        std::memcpy(fresh.get(), data_.get() + begin_, live);
    data_ = std::move(fresh);
    capacity_ = capacity;
    begin_ = 0;
    end_ = live;
}

}  // namespace pants::detail
