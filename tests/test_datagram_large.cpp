// Datagrams of every legal size arrive whole by default (issue 10): the
// largest UDP datagram over IPv4 (65,507 bytes) and over IPv6 loopback
// (65,527), in callbacks and in coroutines, without raising the engine's
// stream buffer size; bursts larger than the engine's datagram buffers;
// and an idle datagram channel stays small.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "net_helpers.hpp"

using namespace std::chrono_literals;
using pants::Address;
using test::run_until;

namespace {

constexpr std::size_t kMaxIpv4 = 65507;  // 65,535 - 20 (IPv4 header) - 8 (UDP header)
constexpr std::size_t kMaxIpv6 = 65527;  // 65,535 - 8 (UDP header): IPv6's header is not counted

struct Recorder : pants::Datagram {
    using pants::Datagram::Datagram;
    std::vector<std::string> reads;
    std::vector<std::error_code> errors;
    void on_read(std::string_view data, const Address&) override { reads.emplace_back(data); }
    void on_read_error(std::error_code e) override { errors.push_back(e); }
};

// A blocking UDP socket of `family` outside any engine, with room to send
// the largest datagram.
struct RawSender {
    int fd;
    explicit RawSender(int family) : fd(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
        REQUIRE(fd >= 0);
        int size = 1 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
    ~RawSender() { ::close(fd); }
    void send(std::string_view data, const Address& to) {
        REQUIRE(::sendto(fd, data.data(), data.size(), 0, to.data(), to.size()) == ssize_t(data.size()));
    }
};

Address listen_on(pants::Datagram& d, const Address& where) {
    REQUIRE(d.listen(where));
    auto a = d.local_address();
    REQUIRE(a);
    return *a;
}

// The largest datagram of the family, in callbacks, then in a coroutine.
void largest_arrives_whole(const Address& where, int family, std::size_t size) {
    pants::Engine engine;  // default Options: 16 KiB stream buffers
    Recorder cb(engine);
    const Address at = listen_on(cb, where);
    RawSender sender(family);
    const std::string big = test::pattern(size, 7);
    sender.send(big, at);
    sender.send("after", at);
    run_until(engine, [&] { return cb.reads.size() == 2 || !cb.errors.empty(); });
    REQUIRE(cb.errors.empty());
    CHECK(cb.reads[0].size() == size);
    CHECK(cb.reads[0] == big);
    CHECK(cb.reads[1] == "after");

    pants::Datagram pulled(engine);
    const Address pull_at = listen_on(pulled, where);
    auto receive_two = [](pants::Datagram& d) -> pants::Task<std::vector<std::string>> {
        std::vector<std::string> got;
        for (int i = 0; i < 2; ++i) {
            auto r = co_await d.receive();
            got.push_back(r ? std::string(r->data) : "error: " + r.error().message());
        }
        co_return got;
    };
    sender.send(big, pull_at);
    sender.send("after", pull_at);
    auto got = engine.run(receive_two(pulled));
    CHECK(got[0] == big);
    CHECK(got[1] == "after");
}

}  // namespace

TEST_CASE("the largest IPv4 UDP datagram arrives whole, in callbacks and in coroutines") {
    largest_arrives_whole(Address::loopback_v4(0), AF_INET, kMaxIpv4);
}

TEST_CASE("the largest IPv6 UDP datagram arrives whole over loopback, in callbacks and in coroutines") {
    REQUIRE(test::has_ipv6_loopback());  // every test machine has ::1 (CI included)
    largest_arrives_whole(Address::loopback_v6(0), AF_INET6, kMaxIpv6);
}

TEST_CASE("a burst of more datagrams than the engine has datagram buffers arrives whole and in order") {
    pants::Engine engine;
    Recorder cb(engine);
    const Address at = listen_on(cb, Address::loopback_v4(0));
    RawSender sender(AF_INET);
    // All in the socket buffer before the engine turns: far more than the
    // 32 datagram buffers, so the receive runs dry and must be re-armed.
    constexpr int kCount = 200;
    for (int i = 0; i < kCount; ++i) sender.send("datagram " + std::to_string(i), at);
    run_until(engine, [&] { return cb.reads.size() == kCount; });
    for (int i = 0; i < kCount; ++i) CHECK(cb.reads[std::size_t(i)] == "datagram " + std::to_string(i));
    CHECK(cb.errors.empty());
    CHECK(engine.backend().buffers_lent() == 0);
}

TEST_CASE("large datagrams keep arriving whole after the datagram buffers have all been used") {
    pants::Engine engine;
    Recorder cb(engine);
    const Address at = listen_on(cb, Address::loopback_v4(0));
    RawSender sender(AF_INET);
    // Two at a time (the socket buffer holds about three this size), 80 in
    // all: every datagram buffer is taken and given back more than once.
    const std::string big = test::pattern(kMaxIpv4, 3);
    for (std::size_t sent = 0; sent < 80; sent += 2) {
        sender.send(big, at);
        sender.send(big, at);
        run_until(engine, [&] { return cb.reads.size() == sent + 2 || !cb.errors.empty(); });
        REQUIRE(cb.errors.empty());
    }
    for (const auto& r : cb.reads) CHECK(r == big);
}

TEST_CASE("an idle datagram channel holds no receive buffer of its own") {
    // Measured with glibc's allocator statistics (an ASan build has its own
    // allocator, where this reads zero and checks nothing more).
    pants::Engine engine;
    std::vector<std::unique_ptr<pants::Datagram>> channels;
    channels.reserve(100);
    auto warm = std::make_unique<pants::Datagram>(engine);  // the engine's datagram buffers, once
    REQUIRE(warm->listen(Address::loopback_v4(0)));
    engine.poll(0ms);
    const std::size_t before = ::mallinfo2().uordblks;
    for (int i = 0; i < 100; ++i) {
        channels.push_back(std::make_unique<pants::Datagram>(engine));
        REQUIRE(channels.back()->listen(Address::loopback_v4(0)));
    }
    engine.poll(0ms);
    const std::size_t per_channel = (::mallinfo2().uordblks - before) / 100;
    MESSAGE("heap per idle datagram channel: " << per_channel << " bytes");
    CHECK(per_channel < 4096);  // was 64 KiB + the channel before issue 10
}
