// net/fifo.hpp: a first-in first-out queue that keeps its memory.
//
// std::deque frees a block each time its front block empties and takes a
// new one as its back fills, so a queue that churns allocates every few
// elements. Fifo keeps its elements in one vector from head_ on: popping
// the front only moves head_, and the space before head_ is reused when
// the vector is full and that space is at least half of it (the rest
// moves to the front), or when the queue empties. So a queue whose length
// stays bounded stops allocating. Elements move: keep only what may move
// (pointers, handles), never what the kernel reads.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace pants::detail {

template <class T>
class Fifo {
public:
    bool empty() const noexcept { return head_ == items_.size(); }
    std::size_t size() const noexcept { return items_.size() - head_; }
    T& front() noexcept { return items_[head_]; }
    const T& front() const noexcept { return items_[head_]; }
    T& operator[](std::size_t i) noexcept { return items_[head_ + i]; }
    const T& operator[](std::size_t i) const noexcept { return items_[head_ + i]; }

    T& push_back(T item) {
        // Full: the space before head_ is reused when it is at least half
        // (each element then moves at most once per push that made room),
        // else the vector grows.
        if (head_ > 0 && items_.size() == items_.capacity() && head_ >= items_.size() / 2) {
            items_.erase(items_.begin(), items_.begin() + std::ptrdiff_t(head_));
            head_ = 0;
        }
        return items_.emplace_back(std::move(item));
    }
    /// Takes the front element out.
    T pop_front() {
        T item = std::move(items_[head_++]);
        if (empty()) clear();
        return item;
    }
    /// Takes element i out; those behind it move up one.
    T take(std::size_t i) {
        if (i == 0) return pop_front();
        T item = std::move(items_[head_ + i]);
        items_.erase(items_.begin() + std::ptrdiff_t(head_ + i));
        return item;
    }
    void pop_back() {
        items_.pop_back();
        if (empty()) clear();
    }

private:
    void clear() noexcept {
        items_.clear();
        head_ = 0;
    }

    std::vector<T> items_;
    std::size_t head_ = 0;
};

}  // namespace pants::detail
