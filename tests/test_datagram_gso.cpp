// Issue 14: datagrams queued in one turn to one destination go as one
// sendmsg with UDP_SEGMENT (GSO). Whatever the batching, a plain peer must
// receive exactly what single sends would give it: each datagram apart,
// its exact bytes, in write order; mixed sizes and destinations split
// correctly; and a socket that refuses GSO loses nothing.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "datagram_peer.hpp"
#include "net_helpers.hpp"

using pants::Address;
using test::expect_datagrams;
using test::run_until;

namespace {

using RawPeer = test::DatagramPeer;

struct Sender : pants::Datagram {
    using pants::Datagram::Datagram;
    std::vector<std::error_code> errors;
    void on_send_error(std::error_code e, const Address&) override { errors.push_back(e); }
    void on_write_error(std::error_code e) override { errors.push_back(e); }
    void on_error(std::error_code e) override { errors.push_back(e); }
};

// Datagram i of a test: its own bytes, so misorder or a wrong cut shows.
std::string datagram(std::size_t i, std::size_t size) { return test::pattern(size, unsigned(i + 1)); }

void run_until_sent(pants::Engine& engine, Sender& s) {
    run_until(engine, [&] { return s.pending_writes() == 0 || !s.errors.empty(); });
    REQUIRE(s.errors.empty());
}

// Writes `sizes` in one turn to `peer` and checks what arrives, and that
// it left in `batches` sendmsg calls (GSO), not one per datagram.
void one_batch(int family, const Address& where, const std::vector<std::size_t>& sizes, std::uint64_t batches) {
    pants::Engine engine;
    RawPeer peer(family, where);
    Sender s(engine);
    const std::uint64_t before = engine.backend().submitted();
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        sent.push_back(datagram(i, sizes[i]));
        s.write(sent.back(), peer.address);
    }
    run_until_sent(engine, s);
    // One more: the receive the channel arms once its socket exists.
    CHECK(engine.backend().submitted() - before == batches + 1);
    expect_datagrams(peer, sent);
}

}  // namespace

TEST_CASE("datagrams of one size queued in one turn arrive apart, whole and in order") {
    std::vector<std::size_t> sizes(40, 300);
    sizes.push_back(17);  // the short last one of the batch
    one_batch(AF_INET, Address::loopback_v4(0), sizes, 1);
    REQUIRE(test::has_ipv6_loopback());
    one_batch(AF_INET6, Address::loopback_v6(0), sizes, 1);
}

TEST_CASE("batches are cut at the segment limit and at 64 KiB") {
    one_batch(AF_INET, Address::loopback_v4(0), std::vector<std::size_t>(150, 64), 3);  // > 64 segments: 64, 64, 22
    one_batch(AF_INET, Address::loopback_v4(0), std::vector<std::size_t>(13, 10000), 3);  // > 65,507 bytes: 6, 6, 1
    one_batch(AF_INET6, Address::loopback_v6(0), std::vector<std::size_t>(7, 20000), 3);  // 3, 3, 1
    one_batch(AF_INET, Address::loopback_v4(0), {1, 1, 1, 1}, 1);  // one-byte segments
}

TEST_CASE("a mixed queue splits by size and destination, in order") {
    pants::Engine engine;
    RawPeer a(AF_INET, Address::loopback_v4(0));
    RawPeer b(AF_INET, Address::loopback_v4(0));
    Sender s(engine);
    // (peer, size): runs of one size, a shorter one inside a run, a
    // longer one after it, an empty datagram, and peers taking turns.
    const std::vector<std::pair<int, std::size_t>> plan = {
        {0, 100}, {0, 100}, {0, 100}, {0, 100}, {0, 100}, {1, 100}, {1, 100}, {1, 100},
        {0, 50},  {0, 100}, {0, 100}, {0, 100}, {0, 100}, {0, 200}, {0, 200}, {0, 200},
        {0, 0},   {0, 100}, {0, 100}, {1, 7},   {0, 7},   {1, 7},   {0, 7},   {1, 300},
        {1, 299}, {1, 300}, {1, 300}, {0, 1},
    };
    std::vector<std::string> to_a, to_b;
    for (std::size_t i = 0; i < plan.size(); ++i) {
        const auto [peer, size] = plan[i];
        std::string d = datagram(i, size);
        s.write(d, peer == 0 ? a.address : b.address);
        (peer == 0 ? to_a : to_b).push_back(std::move(d));
    }
    run_until_sent(engine, s);
    expect_datagrams(a, to_a);
    expect_datagrams(b, to_b);
}

TEST_CASE("a connected channel batches its writes too") {
    REQUIRE(test::has_ipv6_loopback());
    pants::Engine engine;
    RawPeer peer(AF_INET6, Address::loopback_v6(0));
    Sender s(engine);
    REQUIRE(s.connect(peer.address));
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < 30; ++i) {
        sent.push_back(datagram(i, i == 29 ? 3 : 512));
        s.write(sent.back());
    }
    run_until_sent(engine, s);
    expect_datagrams(peer, sent);
}

TEST_CASE("a socket that refuses GSO sends the same datagrams one by one") {
    RawPeer peer(AF_INET, Address::loopback_v4(0));
    const int fd = test::gso_refusing_socket(peer.address);
    pants::Engine engine;
    Sender s(engine);
    REQUIRE(s.assign(fd));
    std::vector<std::string> sent;
    for (int round = 0; round < 2; ++round) {  // refused once, then never tried again
        for (std::size_t i = 0; i < 20; ++i) {
            sent.push_back(datagram(sent.size(), i == 19 ? 40 : 100));
            s.write(sent.back(), peer.address);
        }
        run_until_sent(engine, s);
    }
    expect_datagrams(peer, sent);
}

TEST_CASE("a Unix datagram socket never batches") {
    // It would ignore UDP_SEGMENT and deliver one long datagram.
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) == 0);
    pants::Engine engine;
    Sender s(engine);
    REQUIRE(s.assign(fds[0]));
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < 10; ++i) {
        sent.push_back(datagram(i, 64));
        s.write(sent.back());
    }
    run_until_sent(engine, s);
    timeval limit{5, 0};
    ::setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    for (const std::string& want : sent) {
        char buf[1024];
        const ssize_t n = ::recv(fds[1], buf, sizeof buf, 0);
        REQUIRE(n == ssize_t(want.size()));
        CHECK(std::string(buf, std::size_t(n)) == want);
    }
    ::close(fds[1]);
}

TEST_CASE("a send_to() awaiter whose datagram went in a batch learns it went") {
    pants::Engine engine;
    RawPeer peer(AF_INET, Address::loopback_v4(0));
    pants::Datagram d(engine);
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < 8; ++i) sent.push_back(datagram(i, 256));
    auto send_all = [&]() -> pants::Task<bool> {
        // Queued in one turn: the awaited one is the batch's last.
        for (std::size_t i = 0; i + 1 < sent.size(); ++i) d.write(sent[i], peer.address);
        auto r = co_await d.send_to(sent.back(), peer.address);
        co_return bool(r);
    };
    CHECK(engine.run(send_all()));
    CHECK(d.pending_writes() == 0);
    expect_datagrams(peer, sent);
}
