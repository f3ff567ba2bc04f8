// net/output_queue.hpp: a stream's queued output, in blocks that never move.
//
// write() copies bytes to the back; a sendmsg in flight points at the bytes
// it covers, and they stay put while later writes append behind them (a
// block is never reallocated, only filled). Sent bytes are consumed from
// the front, and each emptied block goes back to the engine's ChunkPool at
// once, so an idle stream holds no output memory. A write_file() segment
// is a node of its own in the same FIFO. Engine thread only.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>

#include <pants/detail/chunk_pool.hpp>

namespace pants::detail {

class OutputQueue {
public:
    /// A block of bytes, or a file segment (file_fd >= 0, no bytes).
    struct Node {
        Node* next = nullptr;
        std::uint32_t begin = 0;  // first byte not yet sent
        std::uint32_t end = 0;    // one past the last byte queued
        int file_fd = -1;
        bool owns_fd = false;
        std::uint64_t offset = 0;     // file: next byte to send
        std::uint64_t remaining = 0;  // file: bytes left to send

        bool is_file() const noexcept { return file_fd >= 0; }
        char* bytes() noexcept { return reinterpret_cast<char*>(this + 1); }
    };
    static constexpr std::uint32_t kBlockBytes = std::uint32_t(ChunkPool::kBlockSize - sizeof(Node));

    OutputQueue() noexcept = default;
    OutputQueue(const OutputQueue&) = delete;
    OutputQueue& operator=(const OutputQueue&) = delete;
    ~OutputQueue();  // nodes left are freed to the heap

    bool empty() const noexcept { return head_ == nullptr; }
    Node* front() const noexcept { return head_; }
    /// `n` is the only node, and a block of bytes.
    bool only(const Node& n) const noexcept { return &n == tail_ && &n == head_ && !n.is_file(); }
    /// Drops the only node (only() is true), all of it sent.
    void clear_only(ChunkPool* pool) noexcept {
        Node* b = head_;
        head_ = tail_ = nullptr;
        give_block(b, pool);
    }

    /// Copies `data` to the back.
    void append(std::string_view data, ChunkPool* pool) {
        if (char* to = reserve(data.size(), pool)) return static_cast<void>(std::memcpy(to, data.data(), data.size()));
        append_blocks(data, pool);
    }
    /// Room for `n` more bytes at the back, already counted as queued: the
    /// caller copies them there before anything reads the queue. Null,
    /// having done nothing, when they do not fit in one block or would
    /// need memory that `pool` has not got waiting (append() then).
    char* reserve(std::size_t n, ChunkPool* pool) noexcept {
        // Inline, the two common cases: it fits behind the last write, or
        // the queue is empty and it fits in a pooled block. Nothing here
        // calls out, so that its callers' fast paths need no frame.
        Node* t = tail_;
        if (t && !t->is_file() && n <= kBlockBytes - t->end) return extend(*t, n);
        if (!t && n <= kBlockBytes && pool) {
            if (void* block = pool->take_free()) {
                t = new (block) Node;
                head_ = tail_ = t;
                return extend(*t, n);
            }
        }
        return nullptr;
    }
    /// Queues a file segment.
    void push_file(int fd, bool owns_fd, std::uint64_t offset, std::uint64_t size);

    /// Fills `iov` with the byte blocks from the front (up to the first file
    /// segment); returns how many entries it used (at most `max`).
    int gather(iovec* iov, int max) const noexcept {
        if (head_ && head_ == tail_ && !head_->is_file()) {  // one block: the common case
            iov[0].iov_base = head_->bytes() + head_->begin;
            iov[0].iov_len = head_->end - head_->begin;
            return 1;
        }
        return gather_all(iov, max);
    }

    /// `n` bytes of the front blocks were sent: drops them, giving emptied
    /// blocks back to `pool` (nullptr: to the heap).
    void consume(std::size_t n, ChunkPool* pool) noexcept {
        Node* b = head_;
        if (b && b == tail_ && !b->is_file() && n == std::size_t(b->end - b->begin)) {
            // All of the only block: the common case.
            head_ = tail_ = nullptr;
            return give_block(b, pool);
        }
        consume_some(n, pool);
    }
    /// Removes the front node (a finished file segment, closing its fd if owned).
    void pop_front(ChunkPool* pool) noexcept;
    /// Frees every node except the first `keep` (those a send in flight points at).
    void drop(std::size_t keep, ChunkPool* pool) noexcept;

private:
    static char* extend(Node& n, std::size_t size) noexcept {
        char* to = n.bytes() + n.end;
        n.end += std::uint32_t(size);
        return to;
    }
    static void give_block(Node* n, ChunkPool* pool) noexcept {
        static_assert(std::is_trivially_destructible_v<Node>);
        if (pool)
            pool->give(n);
        else
            ::operator delete(n);
    }
    void append_blocks(std::string_view data, ChunkPool* pool);
    int gather_all(iovec* iov, int max) const noexcept;
    void consume_some(std::size_t n, ChunkPool* pool) noexcept;
    void push(Node* n) noexcept;
    static void free_node(Node* n, ChunkPool* pool) noexcept;

    Node* head_ = nullptr;
    Node* tail_ = nullptr;
};

}  // namespace pants::detail
