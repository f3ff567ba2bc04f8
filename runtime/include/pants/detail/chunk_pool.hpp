// pants/detail/chunk_pool.hpp: fixed-size memory blocks shared by every
// channel of one Engine, for what a channel needs only while it has work.
//
// ChunkPool holds queued output: a stream takes a block when a write()
// finds no room in its last one and gives it back once the kernel has sent
// its bytes. SmallBlockPool holds the state of a send in flight (its
// msghdr and iovecs). So an idle connection holds neither, and a busy one
// reuses warm blocks instead of allocating per message. At most `kMaxFree`
// blocks wait in a pool; more go back to the heap. Blocks are plain
// ::operator new memory, so a channel that outlives its Engine frees its
// blocks with ::operator delete. Engine thread only.
#pragma once

#include <cstddef>
#include <new>

namespace pants::detail {

/// Blocks of `BlockSize` bytes, keeping up to `MaxFree` freed ones.
template <std::size_t BlockSize, std::size_t MaxFree>
class BlockPool {
public:
    /// Bytes per block (header included).
    static constexpr std::size_t kBlockSize = BlockSize;
    static constexpr std::size_t kMaxFree = MaxFree;

    BlockPool() noexcept = default;
    BlockPool(const BlockPool&) = delete;
    BlockPool& operator=(const BlockPool&) = delete;
    ~BlockPool() {
        while (free_) ::operator delete(pop());
    }

    /// A block of kBlockSize bytes.
    void* take() {
        if (free_) return pop();
        return ::operator new(kBlockSize);
    }
    /// Gives back a block from take().
    void give(void* block) noexcept {
        if (count_ >= kMaxFree) return ::operator delete(block);
        auto* f = static_cast<Free*>(block);
        f->next = free_;
        free_ = f;
        ++count_;
    }

private:
    struct Free {
        Free* next;
    };
    void* pop() noexcept {
        Free* f = free_;
        free_ = f->next;
        --count_;
        return f;
    }

    Free* free_ = nullptr;
    std::size_t count_ = 0;
};

/// Blocks for queued output (16 KiB each).
using ChunkPool = BlockPool<16384, 256>;
/// Blocks for the state of a send in flight (512 bytes each).
using SmallBlockPool = BlockPool<512, 1024>;

}  // namespace pants::detail
