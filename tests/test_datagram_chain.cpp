// Issue 14 (UDP): a Datagram sends the front of its queue as a chain of
// sendmsgs in flight at once, one per destination, where it used to send
// one per loop turn. Whatever the chain, plain peers must receive exactly
// what single sends in write order would give them: every datagram to one
// peer in order, a failure the failing datagram's own (with its
// destination), nothing lost, and nothing freed while the kernel may
// still read it.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <coroutine>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "datagram_peer.hpp"
#include "net_helpers.hpp"

using pants::Address;
using test::DatagramPeer;
using test::expect_datagrams;
using test::run_until;

namespace {

struct Sender : pants::Datagram {
    using pants::Datagram::Datagram;
    std::vector<std::pair<std::error_code, Address>> errors;  // on_send_error, in order
    bool closed = false;
    void on_send_error(std::error_code e, const Address& to) override { errors.emplace_back(e, to); }
    void on_close() override { closed = true; }
};

// Awaits an awaiter that lives elsewhere (GCC 12 may copy an lvalue
// awaiter at co_await, and Datagram's awaiters cannot be copied).
template <class Awaiter>
struct Await {
    Awaiter* awaiter;
    bool await_ready() { return awaiter->await_ready(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return awaiter->await_suspend(h);
    }
    auto await_resume() { return awaiter->await_resume(); }
};
template <class Awaiter>
Await(Awaiter*) -> Await<Awaiter>;

// Datagram i of a test: its own bytes and length, so misorder shows.
std::string datagram(std::size_t i, std::size_t size) { return test::pattern(size, unsigned(i + 1)); }

// Runs until `s` sent everything, without an error; checks what two
// peers got.
void expect_sent(pants::Engine& engine, Sender& s, DatagramPeer& a, const std::vector<std::string>& to_a,
                 DatagramPeer& b, const std::vector<std::string>& to_b) {
    run_until(engine, [&] { return s.pending_writes() == 0; });
    CHECK(s.errors.empty());
    expect_datagrams(a, to_a);
    expect_datagrams(b, to_b);
}

// Four peers taking turns, `rounds` datagrams each, all queued in one
// turn: no two in a row go to one peer, so none is a GSO batch, and a
// chain holds one sendmsg per peer. Counts the loop turns until all went.
void peers_taking_turns(int family, const Address& where) {
    constexpr std::size_t kPeers = 4, kRounds = 25;
    pants::Engine engine;
    std::vector<std::unique_ptr<DatagramPeer>> peers;
    for (std::size_t p = 0; p < kPeers; ++p) peers.push_back(std::make_unique<DatagramPeer>(family, where));
    Sender s(engine);
    const std::uint64_t before = engine.backend().submitted();
    std::vector<std::vector<std::string>> sent(kPeers);
    for (std::size_t i = 0; i < kPeers * kRounds; ++i) {
        const std::size_t p = i % kPeers;
        sent[p].push_back(datagram(i, 40 + (i * 37) % 900));
        s.write(sent[p].back(), peers[p]->address);
    }
    int turns = 0;
    while (s.pending_writes() > 0 && turns < 1000) {
        engine.poll(std::chrono::milliseconds(100));
        ++turns;
    }
    REQUIRE(s.pending_writes() == 0);
    CHECK(s.errors.empty());
    // One sendmsg per datagram (no batch can form), and the receive.
    CHECK(engine.backend().submitted() - before == kPeers * kRounds + 1);
    // One sendmsg per turn (one in flight, the next sent when its
    // completion is seen) would take kPeers * kRounds turns.
    CHECK(turns <= int(kRounds) + 3);
    for (std::size_t p = 0; p < kPeers; ++p) expect_datagrams(*peers[p], sent[p]);
}

}  // namespace

TEST_CASE("datagrams to peers taking turns go several sendmsgs at a time, in order per peer") {
    peers_taking_turns(AF_INET, Address::loopback_v4(0));
    REQUIRE(test::has_ipv6_loopback());
    peers_taking_turns(AF_INET6, Address::loopback_v6(0));
}

TEST_CASE("runs and single datagrams to two peers, interleaved, arrive in order per peer") {
    // Runs of one size (GSO batches) and singles, to two peers, mixed so
    // that chains hold batches and singles to both.
    for (int family : {AF_INET, AF_INET6}) {
        const Address where = family == AF_INET ? Address::loopback_v4(0) : Address::loopback_v6(0);
        if (family == AF_INET6) REQUIRE(test::has_ipv6_loopback());
        pants::Engine engine;
        DatagramPeer a(family, where), b(family, where);
        Sender s(engine);
        std::vector<std::string> to_a, to_b;
        unsigned x = 7;
        for (std::size_t i = 0; i < 600; ++i) {
            x = x * 1103515245u + 12345u;
            const bool first = (x >> 16) % 3 != 0;  // runs to a, broken by b
            const std::size_t size = (x >> 20) % 4 == 0 ? 1 + (x >> 8) % 1200 : 256;
            std::string d = datagram(i, size);
            s.write(d, first ? a.address : b.address);
            (first ? to_a : to_b).push_back(std::move(d));
        }
        expect_sent(engine, s, a, to_a, b, to_b);
    }
}

TEST_CASE("a datagram that fails inside a chain is its own error; the rest go, in order") {
    // Port 0 is refused at the send (EINVAL), and a datagram above IPv4's
    // 65,507 bytes too (EMSGSIZE): each fails alone, between datagrams to
    // two good peers, with several sendmsgs in flight around it.
    pants::Engine engine;
    DatagramPeer a(AF_INET, Address::loopback_v4(0)), b(AF_INET, Address::loopback_v4(0));
    const Address nowhere = Address::loopback_v4(0);
    Sender s(engine);
    std::vector<std::string> to_a, to_b;
    std::vector<std::pair<std::error_code, Address>> want;
    const std::string too_long(70000, 'L');
    for (std::size_t i = 0; i < 60; ++i) {
        std::string d = datagram(i, 100 + i);
        switch (i % 5) {
        case 0:
        case 3:
            s.write(d, a.address);
            to_a.push_back(std::move(d));
            break;
        case 1:
            s.write(d, b.address);
            to_b.push_back(std::move(d));
            break;
        case 2:
            s.write(d, nowhere);
            want.emplace_back(std::make_error_code(std::errc::invalid_argument), nowhere);
            break;
        case 4:
            s.write(too_long, a.address);
            want.emplace_back(std::make_error_code(std::errc::message_size), a.address);
            break;
        }
    }
    run_until(engine, [&] { return s.pending_writes() == 0; });
    REQUIRE(s.errors.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        INFO("error " << i);
        CHECK(s.errors[i].first == want[i].first);
        CHECK(s.errors[i].second == want[i].second);
    }
    expect_datagrams(a, to_a);
    expect_datagrams(b, to_b);
}

TEST_CASE("send_to() awaiters in one chain each learn their own datagram's fate") {
    pants::Engine engine;
    DatagramPeer a(AF_INET, Address::loopback_v4(0)), b(AF_INET, Address::loopback_v4(0));
    const Address nowhere = Address::loopback_v4(0);
    pants::Datagram d(engine);
    const std::string one = datagram(1, 64), two = datagram(2, 65), three = datagram(3, 66);
    auto send_all = [&]() -> pants::Task<std::vector<std::error_code>> {
        // Queued in one turn: one chain of three sendmsgs, the middle one
        // failing.
        auto first = d.send_to(one, a.address);
        auto failing = d.send_to(two, nowhere);
        auto last = d.send_to(three, b.address);
        std::vector<std::error_code> got;
        for (auto* w : {&first, &failing, &last}) {
            auto r = co_await Await{w};
            got.push_back(r ? std::error_code() : r.error());
        }
        co_return got;
    };
    const auto got = engine.run(send_all());
    REQUIRE(got.size() == 3);
    CHECK(!got[0]);
    CHECK(got[1] == std::make_error_code(std::errc::invalid_argument));
    CHECK(!got[2]);
    expect_datagrams(a, {one});
    expect_datagrams(b, {three});
}

TEST_CASE("a GSO batch refused inside a chain goes again one by one, before what follows to its peer") {
    // The kernel refuses UDP_SEGMENT on this socket. The first chain is
    // [a a a as one batch, b]: the batch fails, b goes; the a's then go
    // one by one, and b's awaiter, resolved ahead of them, must still
    // learn that b went.
    DatagramPeer a(AF_INET, Address::loopback_v4(0)), b(AF_INET, Address::loopback_v4(0));
    const int fd = test::gso_refusing_socket(a.address);
    pants::Engine engine;
    Sender s(engine);
    REQUIRE(s.assign(fd));
    std::vector<std::string> to_a, to_b;
    for (std::size_t i = 0; i < 3; ++i) to_a.push_back(datagram(i, 100));
    to_b.push_back(datagram(3, 100));
    to_a.push_back(datagram(4, 100));
    to_b.push_back(datagram(5, 101));
    auto send_all = [&]() -> pants::Task<std::vector<bool>> {
        auto a1 = s.send_to(to_a[0], a.address);
        s.write(to_a[1], a.address);
        s.write(to_a[2], a.address);
        auto b1 = s.send_to(to_b[0], b.address);
        s.write(to_a[3], a.address);
        auto b2 = s.send_to(to_b[1], b.address);
        std::vector<bool> got;
        got.push_back(bool(co_await Await{&a1}));  // resumes while a2, a3 wait
        got.push_back(bool(co_await Await{&b1}));  // went before them
        got.push_back(bool(co_await Await{&b2}));
        co_return got;
    };
    const auto got = engine.run(send_all());
    CHECK(got == std::vector<bool>{true, true, true});
    expect_sent(engine, s, a, to_a, b, to_b);
}

TEST_CASE("end() sends every datagram queued to every peer, then closes") {
    pants::Engine engine;
    std::vector<std::unique_ptr<DatagramPeer>> peers;
    for (int p = 0; p < 3; ++p) peers.push_back(std::make_unique<DatagramPeer>(AF_INET, Address::loopback_v4(0)));
    Sender s(engine);
    std::vector<std::vector<std::string>> sent(peers.size());
    for (std::size_t i = 0; i < 300; ++i) {
        const std::size_t p = (i / 2 + i / 7) % peers.size();  // runs of 1 to 3 per peer
        sent[p].push_back(datagram(i, 200));
        s.write(sent[p].back(), peers[p]->address);
    }
    s.end();
    run_until(engine, [&] { return s.closed; });
    CHECK(s.errors.empty());
    for (std::size_t p = 0; p < peers.size(); ++p) expect_datagrams(*peers[p], sent[p]);
}

TEST_CASE("a Datagram destroyed with a chain in flight frees nothing the kernel still reads") {
    // ASan's part: the chain's buffers and iovecs must outlive the Datagram
    // until every sendmsg of it has completed. Each peer receives a prefix
    // of what was written to it, in order.
    pants::Engine engine;
    std::vector<std::unique_ptr<DatagramPeer>> peers;
    for (int p = 0; p < 4; ++p) peers.push_back(std::make_unique<DatagramPeer>(AF_INET, Address::loopback_v4(0)));
    const std::size_t idle = engine.backend().in_flight();
    auto s = std::make_unique<Sender>(engine);
    std::vector<std::vector<std::string>> sent(peers.size());
    for (std::size_t i = 0; i < 80; ++i) {
        const std::size_t p = i % peers.size();
        sent[p].push_back(datagram(i, 300 + i));
        s->write(sent[p].back(), peers[p]->address);
    }
    // Late in the first turn: the next chain is submitted, not yet done.
    bool destroyed = false;
    auto t = engine.callback([&] {
        CHECK(engine.backend().in_flight() > idle + 1);  // more than the receive
        s.reset();
        destroyed = true;
    });
    run_until(engine, [&] { return destroyed && engine.backend().in_flight() == idle; });
    for (std::size_t p = 0; p < peers.size(); ++p) {
        std::size_t got = 0;
        while (!peers[p]->empty()) {
            REQUIRE(got < sent[p].size());
            CHECK(peers[p]->next() == sent[p][got]);
            ++got;
        }
        CHECK(got >= 1);  // the first chain went
    }
}
