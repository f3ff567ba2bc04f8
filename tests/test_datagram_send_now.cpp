// Backend::send_datagram() (issue 14, DNS): a datagram on a connected
// socket sent without an Operation. epoll sends it at once; io_uring takes
// a copy into the turn's submission (MSG_DONTWAIT, IOSQE_CQE_SKIP_SUCCESS),
// so a success posts no completion and a failure reaches the sink from a
// later completion, with the datagram's bytes, never from inside the call.
// Both backends run every case.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "net_helpers.hpp"

namespace {

using namespace std::chrono_literals;
using test::loopback;

// A UDP socket on loopback, optionally connected to `peer`.
struct Udp {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    pants::Address address;
    Udp() {
        REQUIRE(fd >= 0);
        pants::Address any = loopback();
        REQUIRE(::bind(fd, any.data(), any.size()) == 0);
        socklen_t len = address.capacity();
        REQUIRE(::getsockname(fd, address.data(), &len) == 0);
        address.set_size(len);
    }
    explicit Udp(const pants::Address& peer) : Udp() { REQUIRE(::connect(fd, peer.data(), peer.size()) == 0); }
    ~Udp() { ::close(fd); }
    std::vector<std::string> drain() const {
        std::vector<std::string> got;
        char buf[2048];
        for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) >= 0;) got.emplace_back(buf, std::size_t(n));
        return got;
    }
};

struct Sink : pants::detail::DatagramSendSink {
    struct Failure {
        int result;
        std::string data;
    };
    std::vector<Failure> failures;
    void datagram_send_failed(int result, std::string_view data) override {
        failures.push_back(Failure{result, std::string(data)});
    }
};

// Connected to a loopback port nobody listens on: after the first send,
// the ICMP report makes the socket's next send fail with ECONNREFUSED.
pants::Address nobody() { return pants::Address::loopback_v4(test::free_loopback_port(SOCK_DGRAM)); }

// Sends a first datagram from `socket` (connected to nobody()) and turns
// twice, so that its ICMP report is in and the next send is refused.
void send_first_to_nobody(pants::Engine& engine, const Udp& socket, Sink& sink) {
    REQUIRE(engine.backend().send_datagram(socket.fd, "first", sink) == 0);
    engine.poll(0ms);
    engine.poll(0ms);
}

}  // namespace

TEST_CASE("a datagram sent without an Operation reaches its peer and leaves nothing in flight") {
    pants::Engine engine;
    auto& backend = engine.backend();
    Udp peer;
    Udp socket(peer.address);
    Sink sink;
    CHECK(backend.send_datagram(socket.fd, "hello", sink) == 0);
    CHECK(backend.in_flight() == 0);
    REQUIRE(engine.run_until([&] { return !peer.drain().empty() || !sink.failures.empty(); }, 2000ms));
    CHECK(sink.failures.empty());
    engine.poll(0ms);
    CHECK(backend.in_flight() == 0);
}

TEST_CASE("many datagrams sent in one turn all arrive, more than the backend keeps copies of") {
    pants::Engine engine;
    auto& backend = engine.backend();
    Udp peer;
    int size = 1 << 20;
    ::setsockopt(peer.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    Udp socket(peer.address);
    Sink sink;
    const int count = 300;
    for (int i = 0; i < count; ++i) CHECK(backend.send_datagram(socket.fd, "d" + std::to_string(i), sink) == 0);
    std::set<std::string> got;
    REQUIRE(engine.run_until(
        [&] {
            for (auto& d : peer.drain()) got.insert(d);
            return int(got.size()) == count;
        },
        2000ms));
    CHECK(sink.failures.empty());
    CHECK(got.count("d0") == 1);
    CHECK(got.count("d299") == 1);
}

TEST_CASE("a send the kernel refuses is reported with its bytes, at once or on a later turn, never from the sink inside the call") {
    pants::Engine engine;
    auto& backend = engine.backend();
    Udp socket(nobody());
    Sink sink;
    send_first_to_nobody(engine, socket, sink);
    REQUIRE(sink.failures.empty());
    const int r = backend.send_datagram(socket.fd, "second", sink);
    CHECK(sink.failures.empty());  // nothing from inside the call
    if (r != 0) {
        CHECK(r == -ECONNREFUSED);  // epoll: send(2) said so at once
    } else {
        REQUIRE(engine.run_until([&] { return !sink.failures.empty(); }, 2000ms));
        REQUIRE(sink.failures.size() == 1);
        CHECK(sink.failures[0].result == -ECONNREFUSED);
        CHECK(sink.failures[0].data == "second");
    }
    engine.poll(0ms);
    CHECK(sink.failures.size() <= 1);
}

TEST_CASE("a sink forgotten before its send's turn hears nothing of its failure") {
    pants::Engine engine;
    auto& backend = engine.backend();
    Udp socket(nobody());
    Sink sink;
    send_first_to_nobody(engine, socket, sink);
    {
        Sink dying;
        const int r = backend.send_datagram(socket.fd, "second", dying);
        backend.forget(dying);
        CHECK((r == 0 || r == -ECONNREFUSED));
        CHECK(dying.failures.empty());
    }
    // The failure's completion, if any, finds no sink (ASan: no use after
    // the sink died); a later send on the same backend still works.
    engine.poll(0ms);
    engine.poll(0ms);
    Udp peer;
    Udp other(peer.address);
    CHECK(backend.send_datagram(other.fd, "third", sink) == 0);
    REQUIRE(engine.run_until([&] { return !peer.drain().empty(); }, 2000ms));
    CHECK(sink.failures.empty());
}

TEST_CASE("a full socket refuses at once: each datagram goes or is reported EAGAIN, none waits for room") {
    // A Unix datagram pair whose reader does not read: the writer's queue
    // fills after a few hundred datagrams. Neither backend may park a send
    // for later (io_uring: MSG_DONTWAIT, or its copy would be read after
    // the backend let it go).
    pants::Engine engine;
    auto& backend = engine.backend();
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
    Sink sink;
    const int count = 2000;
    int refused_at_once = 0;
    for (int i = 0; i < count; ++i) {
        const int r = backend.send_datagram(fds[0], "datagram " + std::to_string(i), sink);
        if (r != 0) {
            CHECK((r == -EAGAIN || r == -ENOBUFS));
            ++refused_at_once;
        }
        if (i % 100 == 99) engine.poll(0ms);  // io_uring: the sends go at this turn's enter
    }
    engine.poll(0ms);
    engine.poll(0ms);
    std::size_t refused_later = sink.failures.size();
    for (const auto& f : sink.failures) CHECK((f.result == -EAGAIN || f.result == -ENOBUFS));
    CHECK(refused_at_once + refused_later > 0);  // the queue did fill
    // Everything that went is in the reader's queue now; nothing else comes.
    auto read_all = [&] {
        std::size_t n = 0;
        char buf[256];
        while (::recv(fds[1], buf, sizeof buf, MSG_DONTWAIT) >= 0) ++n;
        return n;
    };
    std::size_t received = read_all();
    CHECK(received + refused_at_once + refused_later == std::size_t(count));
    engine.poll(0ms);
    engine.poll(0ms);
    CHECK(read_all() == 0);
    CHECK(sink.failures.size() == refused_later);
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST_CASE("a socket closed in the turn its datagram was taken still sends it, never on the number's next socket") {
    pants::Engine engine;
    auto& backend = engine.backend();
    Udp first_peer, second_peer;
    Sink sink;
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    REQUIRE(::connect(fd, first_peer.address.data(), first_peer.address.size()) == 0);
    REQUIRE(backend.send_datagram(fd, "for the first", sink) == 0);
    backend.close(fd);
    // The lowest free number: most likely the one just closed.
    const int reused = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    REQUIRE(reused >= 0);
    REQUIRE(::connect(reused, second_peer.address.data(), second_peer.address.size()) == 0);
    std::vector<std::string> got;
    REQUIRE(engine.run_until(
        [&] {
            for (auto& d : first_peer.drain()) got.push_back(d);
            return !got.empty();
        },
        2000ms));
    engine.poll(0ms);
    CHECK(got == std::vector<std::string>{"for the first"});
    CHECK(second_peer.drain().empty());
    CHECK(sink.failures.empty());
    ::close(reused);
}
