// OutputQueue: everything but the append fast path.
#include "output_queue.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace pants::detail {

static_assert(ChunkPool::kBlockSize > 4 * sizeof(OutputQueue::Node), "a block must hold some bytes");

OutputQueue::~OutputQueue() { drop(0, nullptr); }

void OutputQueue::push(Node* n) noexcept {
    (tail_ ? tail_->next : head_) = n;
    tail_ = n;
}

void OutputQueue::append_blocks(std::string_view data, ChunkPool* pool) {
    while (!data.empty()) {
        Node* t = tail_;
        if (!t || t->is_file() || t->end == kBlockBytes) {
            void* block = pool ? pool->take() : ::operator new(ChunkPool::kBlockSize);
            t = new (block) Node;
            push(t);
        }
        const std::size_t n = std::min<std::size_t>(data.size(), kBlockBytes - t->end);
        std::memcpy(extend(*t, n), data.data(), n);
        data.remove_prefix(n);
    }
}

void OutputQueue::push_file(int fd, bool owns_fd, std::uint64_t offset, std::uint64_t size) {
    Node* n = new Node;
    n->file_fd = fd;
    n->owns_fd = owns_fd;
    n->offset = offset;
    n->remaining = size;
    push(n);
}

int OutputQueue::gather_all(iovec* iov, int max) const noexcept {
    int n = 0;
    for (Node* b = head_; b && !b->is_file() && n < max; b = b->next) {
        if (b->end == b->begin) continue;
        iov[n].iov_base = b->bytes() + b->begin;
        iov[n].iov_len = b->end - b->begin;
        ++n;
    }
    return n;
}

void OutputQueue::consume_some(std::size_t n, ChunkPool* pool) noexcept {
    while (Node* b = head_) {
        if (b->is_file()) return;
        const std::size_t left = b->end - b->begin;
        if (n < left) {
            b->begin += std::uint32_t(n);
            return;
        }
        n -= left;
        pop_front(pool);
        if (n == 0) return;
    }
}

void OutputQueue::pop_front(ChunkPool* pool) noexcept {
    Node* b = head_;
    head_ = b->next;
    if (!head_) tail_ = nullptr;
    free_node(b, pool);
}

void OutputQueue::drop(std::size_t keep, ChunkPool* pool) noexcept {
    Node* last_kept = nullptr;
    Node* b = head_;
    for (std::size_t i = 0; b && i < keep; ++i) last_kept = b, b = b->next;
    if (last_kept) {
        last_kept->next = nullptr;
        tail_ = last_kept;
    } else {
        head_ = tail_ = nullptr;
    }
    while (b) {
        Node* next = b->next;
        free_node(b, pool);
        b = next;
    }
}

void OutputQueue::free_node(Node* n, ChunkPool* pool) noexcept {
    if (n->is_file()) {
        if (n->owns_fd) ::close(n->file_fd);
        delete n;
        return;
    }
    give_block(n, pool);
}

}  // namespace pants::detail
