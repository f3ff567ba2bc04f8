#include "plain_queue.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace pants::detail {

namespace {

// One file chunk at a time per thread: it holds bytes only until they are
// encrypted into the stream's send queue, so the streams of a thread share it.
thread_local char chunk_buffer[PlainQueue::kChunkBytes];

}  // namespace

void PlainQueue::append(std::string_view data) {
    if (data.empty()) return;
    bytes_ += data.size();
    if (!items_.empty() && items_.back().fd < 0) {
        items_.back().bytes.append(data);
        return;
    }
    items_.push_back(Item{std::string(data)});
}

void PlainQueue::push_file(int fd, bool owns_fd, std::uint64_t offset, std::uint64_t size) {
    if (size == 0) {
        if (owns_fd) ::close(fd);
        return;
    }
    bytes_ += size;
    items_.push_back(Item{{}, fd, owns_fd, offset, size});
}

Result<std::string_view> PlainQueue::front() {
    while (!items_.empty()) {
        Item& item = items_.front();
        if (item.fd < 0) return std::string_view(item.bytes);
        const std::size_t want = std::size_t(std::min<std::uint64_t>(item.remaining, sizeof chunk_buffer));
        const ssize_t n = ::pread(item.fd, chunk_buffer, want, off_t(item.offset));
        if (n > 0) return std::string_view(chunk_buffer, std::size_t(n));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return pants::fail(errno);
        // The file ended before the range did: the rest is dropped, as a
        // plain stream's sendfile does.
        pop_front();
    }
    return std::string_view();
}

void PlainQueue::pop(std::size_t n) noexcept {
    if (items_.empty() || n == 0) return;
    Item& item = items_.front();
    bytes_ -= std::min<std::uint64_t>(n, bytes_);
    if (item.fd < 0) {
        item.bytes.erase(0, n);
        if (item.bytes.empty()) items_.pop_front();
        return;
    }
    item.offset += n;
    item.remaining -= std::min<std::uint64_t>(n, item.remaining);
    if (item.remaining == 0) pop_front();
}

void PlainQueue::pop_front() noexcept {
    Item& item = items_.front();
    if (item.fd >= 0) {
        bytes_ -= std::min(item.remaining, bytes_);
        if (item.owns_fd) ::close(item.fd);
    } else {
        bytes_ -= std::min<std::uint64_t>(item.bytes.size(), bytes_);
    }
    items_.pop_front();
}

void PlainQueue::clear() noexcept {
    while (!items_.empty()) pop_front();
}

}  // namespace pants::detail
