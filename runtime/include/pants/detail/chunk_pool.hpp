// pants/detail/chunk_pool.hpp: fixed-size memory blocks for queued output,
// shared by every channel of one Engine.
//
// A stream takes a block when a write() finds no room in its last one and
// gives it back once the kernel has sent its bytes, so an idle connection
// holds none, and a busy one reuses warm blocks instead of allocating per
// message. At most `kMaxFree` blocks wait here; more go back to the heap.
// Blocks are plain ::operator new memory, so a channel that outlives its
// Engine frees its blocks with ::operator delete. Engine thread only.
#pragma once

#include <cstddef>
#include <new>

namespace pants::detail {

class ChunkPool {
public:
    /// Bytes per block (header included).
    static constexpr std::size_t kBlockSize = 16384;
    static constexpr std::size_t kMaxFree = 256;

    ChunkPool() noexcept = default;
    ChunkPool(const ChunkPool&) = delete;
    ChunkPool& operator=(const ChunkPool&) = delete;
    ~ChunkPool() {
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

}  // namespace pants::detail
