// Issue 14 (UDP): receive offload. A Datagram's UDP socket has UDP_GRO on
// (when buffer_size holds 64 KiB), so a peer's GSO batch reaches it as one
// payload of several datagrams; the channel must still hand out each
// datagram apart: its exact bytes, its sender, in order, framed on its own,
// in callback mode, in pull mode and across the switch between them.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "net_helpers.hpp"

using namespace std::chrono_literals;
using pants::Address;

namespace {

// Sets an int socket option (SOL_SOCKET unless `level`).
void set_option(int fd, int name, int value, int level = SOL_SOCKET) {
    REQUIRE(::setsockopt(fd, level, name, &value, sizeof value) == 0);
}

// A raw UDP socket that sends a batch of datagrams as one sendmsg with
// UDP_SEGMENT: on loopback it reaches a UDP_GRO socket as one payload.
struct GsoPeer {
    int fd;
    Address at;
    explicit GsoPeer(int family) : fd(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
        REQUIRE(fd >= 0);
        const Address where = family == AF_INET ? Address::loopback_v4(0) : Address::loopback_v6(0);
        REQUIRE(::bind(fd, where.data(), where.size()) == 0);
        sockaddr_storage name{};
        socklen_t len = sizeof name;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&name), &len) == 0);
        at = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&name), len);
    }
    GsoPeer(const GsoPeer&) = delete;
    ~GsoPeer() { ::close(fd); }
    // Sends `datagrams` (all of one size but the last, which may be
    // shorter) as one GSO sendmsg.
    void send(const std::vector<std::string>& datagrams, const Address& to) const {
        std::string payload;
        for (const auto& d : datagrams) payload += d;
        iovec iov{payload.data(), payload.size()};
        alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(std::uint16_t))]{};
        msghdr msg{};
        msg.msg_name = const_cast<sockaddr*>(to.data());
        msg.msg_namelen = to.size();
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
        const auto segment = std::uint16_t(datagrams.front().size());
        std::memcpy(CMSG_DATA(cm), &segment, sizeof segment);
        REQUIRE(::sendmsg(fd, &msg, 0) == ssize_t(payload.size()));
    }
};

// `count` datagrams of `size` bytes (the last `last` bytes), each its own
// pattern, so that a wrong cut or order shows.
std::vector<std::string> batch(std::size_t count, std::size_t size, std::size_t last, unsigned seed) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < count; ++i)
        out.push_back(test::pattern(i + 1 == count ? last : size, seed * 100 + unsigned(i)));
    return out;
}

struct Recorder : pants::Datagram {
    using pants::Datagram::Datagram;
    std::vector<std::string> reads;
    std::vector<Address> froms;
    std::vector<std::error_code> errors;
    std::function<void()> then;
    void on_read(std::string_view data, const Address& from) override {
        reads.emplace_back(data);
        froms.push_back(from);
        if (then) then();
    }
    void on_read_error(std::error_code e) override { errors.push_back(e); }
    void on_error(std::error_code e) override { errors.push_back(e); }
};

Address bound(pants::Datagram& d, int family) {
    REQUIRE(d.listen(family == AF_INET ? Address::loopback_v4(0) : Address::loopback_v6(0)));
    auto at = d.local_address();
    REQUIRE(at);
    return *at;
}

bool gro_on(const pants::Datagram& d) {
    int on = 0;
    socklen_t len = sizeof on;
    REQUIRE(::getsockopt(d.fd(), SOL_UDP, UDP_GRO, &on, &len) == 0);
    return on != 0;
}

// A peer sends `sent` as one GSO batch to `at`: `server` must read each
// datagram apart, and nothing else.
void one_batch_apart(pants::Engine& engine, Recorder& server, const Address& at, const std::vector<std::string>& sent) {
    GsoPeer peer(AF_INET);
    peer.send(sent, at);
    test::run_until(engine, [&] { return server.reads.size() >= sent.size() || !server.errors.empty(); });
    CHECK(server.reads == sent);
    CHECK(server.errors.empty());
}

void append(std::vector<std::string>& to, const std::vector<std::string>& more) { to.insert(to.end(), more.begin(), more.end()); }

const int stamping = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;

// The kernel starts stamping received packets a little after the first
// socket asks (a deferred switch): waits until it does, so that the
// timestamp tests do meet a timestamp.
void wait_for_rx_timestamps() {
    GsoPeer probe(AF_INET);
    set_option(probe.fd, SO_TIMESTAMPING, stamping);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        REQUIRE(::sendto(probe.fd, "x", 1, 0, probe.at.data(), probe.at.size()) == 1);
        char byte;
        iovec iov{&byte, 1};
        alignas(cmsghdr) unsigned char control[256];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        REQUIRE(::recvmsg(probe.fd, &msg, 0) == 1);
        if (msg.msg_controllen > 0) return;
    }
}

}  // namespace

TEST_CASE("the kernel coalesces a GSO batch for a UDP_GRO socket (the premise of this suite)") {
    // Else the tests below would pass without ever cutting a payload.
    GsoPeer peer(AF_INET);
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    int on = 1;
    REQUIRE(::setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) == 0);
    const Address any = Address::loopback_v4(0);
    REQUIRE(::bind(fd, any.data(), any.size()) == 0);
    sockaddr_storage name{};
    socklen_t len = sizeof name;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&name), &len) == 0);
    peer.send(batch(8, 100, 30, 1), Address::from_sockaddr(reinterpret_cast<sockaddr*>(&name), len));
    char buf[4096];
    CHECK(::recv(fd, buf, sizeof buf, 0) == 8 * 100 - 70);
    ::close(fd);
}

// Two peers send batches of all shapes; on_read must see each datagram
// apart, whole, in order per peer, with its sender.
void batches_from_two_peers() {
    for (int family : {AF_INET, AF_INET6}) {
        if (family == AF_INET6 && !test::has_ipv6_loopback()) continue;
        CAPTURE(family);
        pants::Engine engine;
        Recorder server(engine);
        const Address at = bound(server, family);
        REQUIRE(gro_on(server));
        GsoPeer a(family), b(family);
        std::vector<std::string> from_a, from_b;
        auto send = [&](const GsoPeer& p, std::vector<std::string>& log, std::vector<std::string> d) {
            p.send(d, at);
            append(log, d);
        };
        send(a, from_a, batch(1, 50, 50, 5));  // a batch of one: a plain datagram, first
        send(a, from_a, batch(16, 100, 37, 1));
        send(b, from_b, batch(64, 1, 1, 2));  // one-byte datagrams
        send(a, from_a, batch(5, 1400, 1400, 3));  // the last as long as the others
        send(b, from_b, batch(44, 1472, 1472, 4));  // 64,768 bytes: about the most that stays whole
        const std::size_t total = from_a.size() + from_b.size();
        test::run_until(engine, [&] { return server.reads.size() >= total || !server.errors.empty(); });
        REQUIRE(server.errors.empty());
        REQUIRE(server.reads.size() == total);
        std::vector<std::string> got_a, got_b;
        for (std::size_t i = 0; i < total; ++i) {
            REQUIRE((server.froms[i] == a.at || server.froms[i] == b.at));
            (server.froms[i] == a.at ? got_a : got_b).push_back(server.reads[i]);
        }
        CHECK(got_a == from_a);
        CHECK(got_b == from_b);
    }
}

TEST_CASE("each datagram of a coalesced payload reaches on_read apart, whole, in order, with its sender") {
    batches_from_two_peers();
}

TEST_CASE("the same with single-shot receives (io_uring before 6.0)") {
    // The backend's fallback re-arms a recvmsg per datagram: it must give
    // the control room again each time (the kernel writes back what it used).
    test::ScopedEnv env("PANTS_URING_NO_MULTISHOT", "1");
    batches_from_two_peers();
}

TEST_CASE("frames never cross from one coalesced datagram into the next") {
    pants::Engine engine;
    Recorder server(engine);
    server.read_delimiter = '\n';
    const Address at = bound(server, AF_INET);
    REQUIRE(gro_on(server));
    GsoPeer peer(AF_INET);
    // Joined, "b" and "c" (and "d" and "e") would make one frame.
    peer.send({"a\nb", "c\nd", "e\nf", "g"}, at);
    test::run_until(engine, [&] { return server.reads.size() >= 7 || !server.errors.empty(); });
    CHECK(server.reads == std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g"});
    CHECK(server.errors.empty());
}

TEST_CASE("receive() takes each datagram of a coalesced payload apart") {
    pants::Engine engine;
    Recorder server(engine);
    const Address at = bound(server, AF_INET);
    GsoPeer peer(AF_INET);
    std::vector<std::string> sent = batch(16, 200, 10, 1), pulled;
    bool all_from_peer = true, waiting = false;
    auto pull = [&]() -> pants::Task<> {
        // The first receive() waits before anything is sent (a recvmsg is
        // armed); the later ones find the rest of its payload.
        waiting = true;
        for (std::size_t i = 0; i < 32; ++i) {  // two payloads of 16
            auto got = co_await server.receive();
            if (!got) FAIL("receive " << i << ": " << got.error().message());
            pulled.emplace_back(got->data);
            all_from_peer = all_from_peer && got->from == peer.at;
            if (i == 0) {
                const auto more = batch(16, 200, 10, 2);
                peer.send(more, at);  // waits in the kernel meanwhile
                append(sent, more);
            }
        }
    };
    engine.spawn(pull());
    test::run_until(engine, [&] { return waiting; });
    peer.send(sent, at);
    test::run_until(engine, [&] { return pulled.size() == sent.size(); });
    CHECK(pulled == sent);
    CHECK(all_from_peer);
    CHECK(server.reads.empty());
}

TEST_CASE("switching to receive() in the middle of a coalesced payload loses nothing and keeps the order") {
    pants::Engine engine;
    Recorder server(engine);
    const Address at = bound(server, AF_INET);
    GsoPeer peer(AF_INET);
    // Three payloads wait before the first turn: the multishot brings the
    // later ones after the switch, while the first one is half framed.
    std::vector<std::string> sent;
    for (unsigned i = 0; i < 3; ++i) {
        const auto d = batch(10, 64, 20, i + 1);
        peer.send(d, at);
        append(sent, d);
    }
    std::vector<std::string> pulled;
    auto pull = [&]() -> pants::Task<> {
        while (pulled.size() + 1 < sent.size()) {
            auto got = co_await server.receive();
            REQUIRE(got);
            REQUIRE(got->from == peer.at);
            pulled.emplace_back(got->data);
            co_await engine.sleep(0ms);  // let more completions arrive between receives
        }
    };
    server.then = [&] {
        if (server.reads.size() == 1) engine.spawn(pull());
    };
    test::run_until(engine, [&] { return pulled.size() + 1 == sent.size(); });
    REQUIRE(server.reads.size() == 1);
    CHECK(server.reads[0] == sent[0]);
    CHECK(pulled == std::vector<std::string>(sent.begin() + 1, sent.end()));
    CHECK(server.errors.empty());
}

TEST_CASE("a buffer_size below 64 KiB leaves receive offload off, and every datagram still arrives") {
    pants::Engine engine;
    Recorder server(engine);
    server.buffer_size = 1000;
    const Address at = bound(server, AF_INET);
    CHECK_FALSE(gro_on(server));
    one_batch_apart(engine, server, at, batch(16, 500, 100, 1));
}

TEST_CASE("on_read can read each coalesced datagram's packed record") {
    // The framer must not move on to the next datagram before on_read has
    // read the record of the frame it was given.
    pants::Engine engine;
    std::vector<std::uint32_t> got;
    struct Receiver : Recorder {
        using Recorder::Recorder;
        std::vector<std::uint32_t>* got = nullptr;
        void on_read(std::string_view, const Address&) override {
            got->push_back(read_delimiter.record().get<std::uint32_t>(0));
        }
    } server(engine);
    server.got = &got;
    server.read_delimiter = pants::ReadDelimiter::packed("!I");
    const Address at = bound(server, AF_INET);
    GsoPeer peer(AF_INET);
    peer.send({std::string("\0\0\0\1", 4), std::string("\0\0\0\2", 4), std::string("\0\0\0\3", 4)}, at);
    test::run_until(engine, [&] { return got.size() >= 3 || !server.errors.empty(); });
    CHECK(got == std::vector<std::uint32_t>{1, 2, 3});
    CHECK(server.errors.empty());
}

TEST_CASE("receive() after a single datagram still cuts the next coalesced payload") {
    // The kernel writes back the control length a recvmsg used (none for a
    // plain datagram): the room must be given again at every receive.
    pants::Engine engine;
    Recorder server(engine);
    const Address at = bound(server, AF_INET);
    GsoPeer peer(AF_INET);
    std::vector<std::string> sent{"single"}, pulled;
    bool waiting = false;
    auto pull = [&]() -> pants::Task<> {
        waiting = true;
        for (std::size_t i = 0; i < 1 + 2 * (8 + 1); ++i) {
            auto got = co_await server.receive();
            if (!got) FAIL("receive " << i << ": " << got.error().message());
            pulled.emplace_back(got->data);
        }
    };
    engine.spawn(pull());
    test::run_until(engine, [&] { return waiting; });
    peer.send(sent, at);  // a batch of one is a plain datagram
    test::run_until(engine, [&] { return pulled.size() == 1; });
    for (unsigned round = 0; round < 2; ++round) {
        const auto more = batch(8, 100, 40, round + 1);
        peer.send(more, at);
        append(sent, more);
        peer.send({"plain"}, at);
        sent.push_back("plain");
    }
    test::run_until(engine, [&] { return pulled.size() == sent.size(); });
    CHECK(pulled == sent);
}

TEST_CASE("a timestamp beside the segment size still lets a payload be cut") {
    pants::Engine engine;
    Recorder server(engine);
    const Address at = bound(server, AF_INET);
    wait_for_rx_timestamps();
    set_option(server.fd(), SO_TIMESTAMP, 1);
    one_batch_apart(engine, server, at, batch(8, 100, 40, 1));
}

TEST_CASE("control data too large for its room is an error, never a joined datagram") {
    // SO_TIMESTAMPING's 64-byte message leaves no room for UDP_GRO's.
    wait_for_rx_timestamps();
    for (bool pull : {false, true}) {
        CAPTURE(pull);
        pants::Engine engine;
        Recorder server(engine);
        const Address at = bound(server, AF_INET);
        set_option(server.fd(), SO_TIMESTAMPING, stamping);
        GsoPeer peer(AF_INET);
        std::vector<std::string> pulled;
        std::vector<std::error_code> pull_errors;
        bool waiting = false;
        auto receiver = [&]() -> pants::Task<> {
            waiting = true;
            while (pulled.size() + pull_errors.size() < 2) {
                auto got = co_await server.receive();
                if (got)
                    pulled.emplace_back(got->data);
                else
                    pull_errors.push_back(got.error());
            }
        };
        if (pull) {
            engine.spawn(receiver());
            test::run_until(engine, [&] { return waiting; });
        }
        peer.send(batch(8, 100, 40, 1), at);
        peer.send({"after"}, at);  // the channel goes on
        auto& reads = pull ? pulled : server.reads;
        auto& errors = pull ? pull_errors : server.errors;
        test::run_until(engine, [&] { return reads.size() + errors.size() >= 2; });
        REQUIRE(errors.size() == 1);
        CHECK(errors[0] == std::errc::message_size);
        CHECK(reads == std::vector<std::string>{"after"});
    }
}

TEST_CASE("a datagram unstashed in callback mode and closed mid-frame is not copied onto itself") {
    // A nested turn in the first on_read brings the next datagram in as an
    // early one; closing while its first frame is delivered keeps the
    // datagram, which already lies in the channel's own buffer (ASan
    // reported an overlapping memcpy here).
    pants::Engine engine;
    Recorder server(engine);
    server.read_delimiter = '\n';
    const Address at = bound(server, AF_INET);
    GsoPeer peer(AF_INET);
    peer.send({"a\nb"}, at);
    server.then = [&] {
        if (server.reads.size() == 1) {
            peer.send({"c\nd\ne"}, at);
            for (int i = 0; i < 5 && server.reads.size() == 1; ++i) engine.poll(5ms);
        }
        if (server.reads.size() == 3) server.close();
    };
    test::run_until(engine, [&] { return server.closed(); });
    CHECK(server.reads == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("receive offload is for listen()ed sockets that want it") {
    pants::Engine engine;
    Recorder client(engine), refused(engine);
    REQUIRE(client.connect(Address::loopback_v4(9)));
    CHECK_FALSE(gro_on(client));  // a client socket never flips the host-wide switch
    refused.receive_offload = false;
    bound(refused, AF_INET);
    CHECK_FALSE(gro_on(refused));
}
