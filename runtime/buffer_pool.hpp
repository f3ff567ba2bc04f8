// runtime/buffer_pool.hpp: the receive buffers a backend lends to channels.
//
// One contiguous block of `count` buffers of `size` bytes. io_uring hands
// them to the kernel through a provided-buffer ring; epoll lends them from
// the free list here. Either way a Completion names a buffer by id, and the
// backend takes it back when the completion's handler returns.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>

namespace pants::detail {

// Datagrams get buffers of their own, large enough for any UDP datagram
// (65,535 bytes of payload) plus what comes before it in a multishot
// recvmsg buffer (datagram_overhead: 16-byte header, 128-byte name), so
// that every legal datagram arrives whole without making every stream's
// buffer that large. A few, shared by every datagram channel of the engine
// and allocated when the first one receives: an idle channel holds none,
// and only the pages datagrams are written into become resident.
constexpr unsigned kDatagramBufferCount = 32;  // a power of two (io_uring)
constexpr unsigned kDatagramBufferSize = 65536 + 4096;
// Completion::buffer_id of a datagram buffer: which pool it goes back to.
constexpr std::uint16_t kDatagramBufferTag = 0x8000;

class BufferPool {
public:
    BufferPool(unsigned count, unsigned size)
        : count_(count), size_(size),
          memory_(static_cast<char*>(::operator new[](std::size_t(count) * size, kAlignment))),
          free_(new std::uint16_t[count]) {
        // Buffer ids share 16 bits with kDatagramBufferTag.
        if (count > kDatagramBufferTag) throw std::invalid_argument("pants: at most 32768 receive buffers");
        for (unsigned i = count; i-- > 0;) free_[free_count_++] = static_cast<std::uint16_t>(i);
    }

    unsigned count() const noexcept { return count_; }
    unsigned size() const noexcept { return size_; }
    char* at(std::uint16_t id) const noexcept { return memory_.get() + std::size_t(id) * size_; }

    /// Takes a free buffer (epoll only); false when all are lent out.
    /// Last given, first taken: the buffer most likely still in cache.
    bool take(std::uint16_t& id) noexcept {
        if (free_count_ == 0) return false;
        id = free_[--free_count_];
        return true;
    }
    /// Gives back a buffer take() lent (never one twice: the stack holds count).
    void give(std::uint16_t id) noexcept { free_[free_count_++] = id; }
    bool exhausted() const noexcept { return free_count_ == 0; }

private:
    // Page-aligned, so every buffer of a size that is a multiple of 64
    // starts on a cache line. new char[] of this size is an mmap plus
    // malloc's 16-byte header: every buffer began 16 bytes into a line,
    // and the kernel's copy into it (recv) costs more there: 50
    // connections echoing 4 KiB on epoll (AMD EPYC), server CPU per
    // message 0.85x of that (median of 14 interleaved runs), and
    // bench/peers/epoll_echo.c reading 16 bytes into a line is as slow.
    static constexpr std::align_val_t kAlignment{4096};
    struct Free {
        void operator()(char* p) const noexcept { ::operator delete[](p, kAlignment); }
    };

    unsigned count_;
    unsigned size_;
    std::unique_ptr<char[], Free> memory_;
    // The free ids, a stack: a fixed array, so that a give is a store
    // (a vector's push_back checks its capacity every time).
    std::unique_ptr<std::uint16_t[]> free_;
    unsigned free_count_ = 0;
};

}  // namespace pants::detail
