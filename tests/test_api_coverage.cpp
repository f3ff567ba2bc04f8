// Public features that no other suite exercised (issue 13): dual-stack
// listen(port), Server::on_error, Datagram::connect's sender filter,
// Datagram::send() and pending_writes(), and receive buffers going back to
// the engine. Only the public API, on real loopback sockets.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "net_helpers.hpp"

using namespace std::chrono_literals;
using pants::Address;
using pants::Engine;
using test::Recorder;
using test::run_until;

namespace {

struct Echo : pants::Connection {
    void on_read(std::string_view data) override { write(data); }
};

/// A server that records what reaches on_error instead of printing it.
struct ErrorRecorder : pants::Server<Echo> {
    using pants::Server<Echo>::Server;
    std::vector<std::error_code> errors;
    void on_error(std::error_code e) override { errors.push_back(e); }
};

/// A Datagram that records what it receives and how its sends end.
struct DatagramRecorder : pants::Datagram {
    using pants::Datagram::Datagram;
    std::vector<std::pair<std::string, Address>> reads;
    std::vector<std::error_code> write_errors;
    int writes_drained = 0;
    void on_read(std::string_view data, const Address& from) override { reads.emplace_back(std::string(data), from); }
    void on_write() override { ++writes_drained; }
    void on_write_error(std::error_code e) override { write_errors.push_back(e); }
};

/// A plain blocking UDP socket on 127.0.0.1: what it sends is in the
/// receiver's socket buffer before the engine turns.
struct RawUdp {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    Address at;
    RawUdp() {
        Address any = Address::loopback_v4(0);
        REQUIRE(::bind(fd, any.data(), any.size()) == 0);
        socklen_t len = Address::capacity();
        REQUIRE(::getsockname(fd, at.data(), &len) == 0);
        at.set_size(len);
    }
    ~RawUdp() { ::close(fd); }
    void send(std::string_view data, const Address& to) {
        REQUIRE(::sendto(fd, data.data(), data.size(), 0, to.data(), to.size()) == ssize_t(data.size()));
    }
    std::string receive() {
        char buf[2048];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        REQUIRE(n >= 0);
        return std::string(buf, std::size_t(n));
    }
};

/// A TCP listener on 127.0.0.1 that holds a port for the test.
struct TakenPort {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    std::uint16_t port = 0;
    TakenPort() {
        Address any = Address::loopback_v4(0);
        REQUIRE(::bind(fd, any.data(), any.size()) == 0);
        REQUIRE(::listen(fd, 1) == 0);
        sockaddr_in sa{};
        socklen_t len = sizeof sa;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
        port = ntohs(sa.sin_port);
    }
    ~TakenPort() { ::close(fd); }
};

}  // namespace

TEST_CASE("listen(port) on every interface accepts over 127.0.0.1 and over ::1") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(0));  // the README's headline call, with a free port
    const std::uint16_t port = server.local_address()->port();
    Recorder v4(engine), v6(engine);
    v4.connect("127.0.0.1", port);
    v6.connect("::1", port);
    v4.write("over four");
    v6.write("over six");
    run_until(engine, [&] { return v4.got == "over four" && v6.got == "over six"; });
    CHECK(v4.remote_address()->is_ipv4());
    CHECK(v6.remote_address()->is_ipv6());
    CHECK(server.connections().size() == 2);
}

TEST_CASE("a listen on a port already taken fails and reaches Server::on_error") {
    Engine engine;
    TakenPort taken;
    ErrorRecorder server(engine);
    auto r = server.listen(taken.port, "127.0.0.1");
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::address_in_use);
    REQUIRE(server.errors.size() == 1);
    CHECK(server.errors[0] == std::errc::address_in_use);
    CHECK_FALSE(server.listening());
}

TEST_CASE("a connected Datagram receives only from its peer") {
    Engine engine;
    RawUdp peer, stranger;
    DatagramRecorder d(engine);
    REQUIRE(d.connect(peer.at));
    const Address at = *d.local_address();
    stranger.send("from a stranger", at);  // queued first: the filter, not luck, keeps it out
    peer.send("from the peer", at);
    peer.send("again", at);
    run_until(engine, [&] { return d.reads.size() == 2; });
    engine.poll(0ms);
    REQUIRE(d.reads.size() == 2);
    CHECK(d.reads[0].first == "from the peer");
    CHECK(d.reads[0].second == peer.at);
    CHECK(d.reads[1].first == "again");
}

TEST_CASE("Datagram::send() sends to the connected peer and resumes with the verdict") {
    Engine engine;
    RawUdp peer;
    DatagramRecorder d(engine);
    REQUIRE(d.connect(peer.at));
    auto send = [&]() -> pants::Task<pants::Result<void>> { co_return co_await d.send("sent by send()"); };
    auto r = engine.run(send());
    CHECK(r.has_value());
    CHECK(peer.receive() == "sent by send()");  // blocking: it was sent before send() resumed
}

TEST_CASE("Datagram::send() with no address to send to gives EDESTADDRREQ") {
    Engine engine;
    DatagramRecorder d(engine);
    REQUIRE(d.listen(Address::loopback_v4(0)));
    auto send = [&]() -> pants::Task<pants::Result<void>> { co_return co_await d.send("nowhere"); };
    auto r = engine.run(send());
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::destination_address_required);
}

TEST_CASE("pending_writes counts queued datagrams until they are sent") {
    Engine engine;
    RawUdp peer;
    DatagramRecorder d(engine);
    CHECK(d.pending_writes() == 0);
    d.write("one", peer.at);
    d.write("two");
    d.write("three");
    CHECK(d.pending_writes() == 3);  // write() queues, it never sends inline
    run_until(engine, [&] { return d.writes_drained == 1; });
    CHECK(d.pending_writes() == 0);
    CHECK(peer.receive() == "one");
    CHECK(peer.receive() == "two");
    CHECK(peer.receive() == "three");
    CHECK(d.write_errors.empty());
}

TEST_CASE("a stream receives many more chunks than the engine has receive buffers") {
    // Each chunk read takes one of the engine's 8 buffers; only giving each
    // back after its on_read lets the ping-pong go on to 200.
    Engine::Options options;
    options.buffer_count = 8;
    Engine engine(options);
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(Address::loopback_v4(0)));
    struct PingPong : Recorder {
        using Recorder::Recorder;
        int rounds = 0;
        void on_read(std::string_view d) override {
            Recorder::on_read(d);
            if (++rounds < 200) write("p");
        }
    } client(engine);
    client.connect(*server.local_address());
    client.write("p");
    run_until(engine, [&] { return client.rounds == 200; });
    CHECK(client.got == std::string(200, 'p'));
}
