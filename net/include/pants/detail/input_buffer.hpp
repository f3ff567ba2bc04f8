// pants/detail/input_buffer.hpp: the bytes a channel holds while a frame is
// incomplete.
//
// One contiguous, growable byte array with a read offset: append() at the
// back, consume() from the front, view() of everything in between, so a
// framer always sees the buffered bytes as one string_view. Consuming is
// O(1) (it moves the offset); the live bytes are moved back to the start
// only when the gap in front is at least as large as they are, which keeps
// every byte's moves amortised O(1). Capacity is kept across clear() and
// consume(), so a channel at steady state never allocates.
//
// Owned by one channel and touched only from its engine thread. A view()
// or prepare() span is invalidated by the next append(), prepare() or
// reserve().
#pragma once

#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

namespace pants::detail {

/// A contiguous byte buffer with cheap consume from the front.
class InputBuffer {
public:
    InputBuffer() noexcept = default;
    /// Starts with room for `capacity` bytes.
    explicit InputBuffer(std::size_t capacity) { reserve(capacity); }

    InputBuffer(InputBuffer&& other) noexcept { swap(other); }
    InputBuffer& operator=(InputBuffer&& other) noexcept {
        InputBuffer(std::move(other)).swap(*this);
        return *this;
    }
    InputBuffer(const InputBuffer&) = delete;
    InputBuffer& operator=(const InputBuffer&) = delete;

    /// The buffered bytes, oldest first.
    std::string_view view() const noexcept { return {data_.get() + begin_, end_ - begin_}; }
    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return begin_ == end_; }
    /// Bytes the buffer can hold without allocating (counting the gap in
    /// front that compaction would reclaim).
    std::size_t capacity() const noexcept { return capacity_; }

    /// Copies `bytes` to the back.
    void append(std::string_view bytes) {
        if (bytes.empty())
            return;
        auto room = prepare(bytes.size());
        std::memcpy(room.data(), bytes.data(), bytes.size());
        end_ += bytes.size();
    }

    /// Room for at least `n` more bytes at the back, to receive into
    /// directly; follow with commit() of the bytes written.
    std::span<char> prepare(std::size_t n) {
        if (capacity_ - end_ < n)
            make_room(n);
        return {data_.get() + end_, capacity_ - end_};
    }
    /// Adds `n` bytes written into the last prepare() span to the back.
    void commit(std::size_t n) noexcept {
        assert(n <= capacity_ - end_);
        end_ += n;
    }

    /// Drops the first `n` bytes (n <= size()).
    void consume(std::size_t n) noexcept {
        assert(n <= size());
        begin_ += n;
        if (begin_ == end_)
            begin_ = end_ = 0;  // empty: the next append starts at the front for free
    }

    /// Drops everything, keeping the capacity.
    void clear() noexcept { begin_ = end_ = 0; }

    /// Ensures `n` bytes in all fit without another allocation.
    void reserve(std::size_t n) {
        if (n > size())
            prepare(n - size());
    }

    /// Frees the storage if empty (e.g. after a burst, on an idle channel).
    void release() noexcept {
        if (empty()) {
            data_.reset();
            capacity_ = begin_ = end_ = 0;
        }
    }

    void swap(InputBuffer& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(capacity_, other.capacity_);
        std::swap(begin_, other.begin_);
        std::swap(end_, other.end_);
    }

private:
    // Compacts or grows so that `n` bytes fit after end_.
    void make_room(std::size_t n);

    std::unique_ptr<char[]> data_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;  // first live byte
    std::size_t end_ = 0;    // one past the last live byte
};

}  // namespace pants::detail
