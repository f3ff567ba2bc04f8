// Tests for detail::OutputQueue (net/output_queue.hpp), the blocks a
// stream's queued output lives in: bytes keep their order across blocks,
// a partial send leaves exactly the unsent rest, bytes appended behind a
// send in flight do not move the bytes it points at, emptied blocks go
// back to the pool, and file segments keep their place in the FIFO.
#include "net/output_queue.hpp"

#include <sys/uio.h>

#include <string>
#include <vector>

#include <doctest/doctest.h>

using pants::detail::ChunkPool;
using pants::detail::OutputQueue;

namespace {

// The bytes gather() offers, concatenated.
std::string gathered(const OutputQueue& q, int max = 64) {
    std::vector<iovec> iov(static_cast<std::size_t>(max));
    const int n = q.gather(iov.data(), max);
    std::string out;
    for (int i = 0; i < n; ++i) out.append(static_cast<const char*>(iov[std::size_t(i)].iov_base), iov[std::size_t(i)].iov_len);
    return out;
}

std::string pattern(std::size_t n, char seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = char(seed + char(i % 23));
    return s;
}

}  // namespace

TEST_CASE("output queue: small writes share one block and come out in order") {
    ChunkPool pool;
    OutputQueue q;
    CHECK(q.empty());
    q.append("hello ", &pool);
    q.append("world", &pool);
    CHECK(gathered(q) == "hello world");
    iovec iov[4];
    CHECK(q.gather(iov, 4) == 1);
    q.consume(11, &pool);
    CHECK(q.empty());
}

TEST_CASE("output queue: a write larger than a block spans blocks in order") {
    ChunkPool pool;
    OutputQueue q;
    const std::string big = pattern(3 * OutputQueue::kBlockBytes + 100, 'a');
    q.append("head", &pool);
    q.append(big, &pool);
    iovec iov[8];
    CHECK(q.gather(iov, 8) == 4);
    CHECK(gathered(q) == "head" + big);
    // gather() stops at `max` entries; the rest waits for the next send.
    CHECK(q.gather(iov, 2) == 2);
}

TEST_CASE("output queue: a partial send leaves exactly the unsent rest") {
    ChunkPool pool;
    OutputQueue q;
    const std::string data = pattern(2 * OutputQueue::kBlockBytes + 7, 'k');
    q.append(data, &pool);
    q.consume(5, &pool);
    CHECK(gathered(q) == data.substr(5));
    q.consume(OutputQueue::kBlockBytes, &pool);  // across the first block's end
    CHECK(gathered(q) == data.substr(5 + OutputQueue::kBlockBytes));
    q.consume(data.size() - 5 - OutputQueue::kBlockBytes, &pool);
    CHECK(q.empty());
}

TEST_CASE("output queue: bytes appended behind a send in flight leave its bytes in place") {
    ChunkPool pool;
    OutputQueue q;
    q.append("first", &pool);
    iovec iov[4];
    REQUIRE(q.gather(iov, 4) == 1);
    const void* in_flight = iov[0].iov_base;
    for (int i = 0; i < 100; ++i) q.append(pattern(200, 'x'), &pool);  // fills more blocks
    CHECK(std::string(static_cast<const char*>(in_flight), 5) == "first");
    q.consume(5, &pool);  // the send completes
    std::string rest;
    for (int i = 0; i < 100; ++i) rest += pattern(200, 'x');
    CHECK(gathered(q) == rest);
}

TEST_CASE("output queue: emptied blocks are reused, not reallocated") {
    ChunkPool pool;
    OutputQueue q;
    q.append("one", &pool);
    iovec iov[1];
    q.gather(iov, 1);
    const void* block = iov[0].iov_base;
    q.consume(3, &pool);
    q.append("two", &pool);
    q.gather(iov, 1);
    CHECK(iov[0].iov_base == block);  // the same block, from the pool
    q.consume(3, &pool);
}

TEST_CASE("output queue: a file segment keeps its place between byte blocks") {
    ChunkPool pool;
    OutputQueue q;
    q.append("before", &pool);
    q.push_file(0, false, 10, 20);  // fd 0, not owned: never closed
    q.append("after", &pool);
    CHECK(gathered(q) == "before");  // gather stops at the file
    q.consume(6, &pool);
    REQUIRE(q.front() != nullptr);
    CHECK(q.front()->is_file());
    CHECK(q.front()->offset == 10);
    CHECK(q.front()->remaining == 20);
    q.pop_front(&pool);
    CHECK(gathered(q) == "after");
    q.consume(5, &pool);
    CHECK(q.empty());
}

TEST_CASE("output queue: drop keeps the nodes a send in flight points at") {
    ChunkPool pool;
    OutputQueue q;
    q.append(pattern(OutputQueue::kBlockBytes, 'a'), &pool);
    q.append("tail", &pool);
    q.drop(1, &pool);
    CHECK(gathered(q) == pattern(OutputQueue::kBlockBytes, 'a'));
    q.drop(0, nullptr);  // to the heap, as after the engine is gone
    CHECK(q.empty());
}
