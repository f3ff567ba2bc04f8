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
// blocks with ::operator delete. A pool with its link at the end keeps
// the bytes a block's last user left, except its last kLinkSize bytes, so
// a pool that holds one kind of object hands it back ready for use
// (take_free()). A pool of large blocks keeps its link at the front
// instead: a block written only at its start (a small write) then has one
// resident page, not two. Engine thread only.
#pragma once

#include <cstddef>
#include <new>

namespace pants::detail {

/// Blocks of `BlockSize` bytes, keeping up to `MaxFree` freed ones; a
/// freed block's link is in its last bytes if `LinkAtEnd`, else its first.
template <std::size_t BlockSize, std::size_t MaxFree, bool LinkAtEnd>
class BlockPool {
public:
    /// Bytes per block (header included).
    static constexpr std::size_t kBlockSize = BlockSize;
    static constexpr std::size_t kMaxFree = MaxFree;
    /// Bytes at the end of a free block that the pool overwrites.
    static constexpr std::size_t kLinkSize = sizeof(void*);
    static_assert(BlockSize % alignof(void*) == 0 && BlockSize > kLinkSize);

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
    /// A freed block, or null when none waits (take() would allocate).
    void* take_free() noexcept { return free_ ? pop() : nullptr; }
    /// give() would keep the block (not free it).
    bool has_room() const noexcept { return count_ < kMaxFree; }
    /// Gives back a block from take().
    void give(void* block) noexcept {
        if (!has_room()) return ::operator delete(block);
        link(block) = free_;
        free_ = block;
        ++count_;
    }

private:
    static void*& link(void* block) noexcept {
        return *reinterpret_cast<void**>(static_cast<char*>(block) + (LinkAtEnd ? kBlockSize - kLinkSize : 0));
    }
    void* pop() noexcept {
        void* b = free_;
        free_ = link(b);
        --count_;
        return b;
    }

    void* free_ = nullptr;
    std::size_t count_ = 0;
};

/// Blocks for queued output (16 KiB each).
using ChunkPool = BlockPool<16384, 256, false>;
/// Blocks for the state of a send in flight (512 bytes each).
using SmallBlockPool = BlockPool<512, 1024, true>;

}  // namespace pants::detail
