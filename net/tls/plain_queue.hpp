// net/tls/plain_queue.hpp: what the user queued on a TLS stream that is
// not encrypted yet, in order: bytes written before the handshake
// finished or behind a file, and write_file() segments.
//
// A file segment is read lazily, one chunk at a time (pread at the
// segment's offset; the file position is not used), so a large file never
// sits in memory: TlsStream asks for the next chunk only while the
// stream's wire queue is under its high-water mark. Engine thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include <pants/result.hpp>

namespace pants::detail {

class PlainQueue {
public:
    /// Most bytes one file chunk holds.
    static constexpr std::size_t kChunkBytes = 64 << 10;

    PlainQueue() = default;
    PlainQueue(const PlainQueue&) = delete;
    PlainQueue& operator=(const PlainQueue&) = delete;
    ~PlainQueue() { clear(); }

    bool empty() const noexcept { return items_.empty(); }
    /// Bytes left to encrypt (file segments count in full).
    std::uint64_t size() const noexcept { return bytes_; }

    /// Copies `data` to the back.
    void append(std::string_view data);
    /// Queues `size` bytes of `fd` from `offset`; closes `fd` when done
    /// (or dropped) if `owns_fd`.
    void push_file(int fd, bool owns_fd, std::uint64_t offset, std::uint64_t size);

    /// The next bytes to encrypt: held bytes, or the next chunk read from
    /// the front file segment. The view is valid until the next call on
    /// this queue (chunks share one buffer per thread). Empty when the
    /// queue is; an error when reading the file failed (the segment stays).
    Result<std::string_view> front();
    /// The `n` bytes front() gave were encrypted.
    void pop(std::size_t n) noexcept;
    /// Drops everything (closing owned files).
    void clear() noexcept;

private:
    struct Item {
        std::string bytes;  // when fd < 0
        int fd = -1;
        bool owns_fd = false;
        std::uint64_t offset = 0;     // file: next byte to read
        std::uint64_t remaining = 0;  // file: bytes left to read
    };
    void pop_front() noexcept;

    std::deque<Item> items_;
    std::uint64_t bytes_ = 0;
};

}  // namespace pants::detail
