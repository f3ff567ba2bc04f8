// A stream's flush on a backend that sends at once (issue 14, epoll
// instructions): Backend::send_now() hands the turn's queued bytes to the
// kernel without an Operation, and on_write follows in the same flush. These
// pin what must not change with it: bytes and order when part goes at once
// and the rest queues behind, one on_write after the last byte and never
// inside write(), one send per turn, errors reported before on_close, and
// end() after a send made at once. Both backends run every case (io_uring
// never sends at once: the same promises hold there by its Operations).
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net_helpers.hpp"
#include "watchdog.hpp"

namespace {

using test::loopback;
using test::pattern;
using test::RawPeer;
using test::Recorder;
using test::run_until;

// A listening loopback socket the test accepts from by hand.
struct RawListener {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    pants::Address address;
    RawListener() {
        REQUIRE(fd >= 0);
        pants::Address any = loopback();
        REQUIRE(::bind(fd, any.data(), any.size()) == 0);
        REQUIRE(::listen(fd, 4) == 0);
        sockaddr_storage bound{};
        socklen_t len = sizeof bound;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0);
        address = pants::Address::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), len);
    }
    ~RawListener() { ::close(fd); }
    RawPeer accept() {
        RawPeer p;
        p.fd = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        REQUIRE(p.fd >= 0);
        return p;
    }
};

// A connected client and the raw peer it talks to.
struct Connected {
    RawListener listener;
    std::optional<RawPeer> peer;
    template <class Client>
    explicit Connected(pants::Engine& engine, Client& client) {
        client.connect(listener.address);
        run_until(engine, [&] { return client.connected(); });
        peer.emplace(listener.accept());
        engine.poll(std::chrono::milliseconds(0));  // the receive is armed
    }
};

bool sends_at_once(pants::Engine& engine) { return engine.backend().name() == "epoll"; }

}  // namespace

TEST_CASE("a write the socket cannot take whole goes partly at once; the rest and a later write follow in order") {
    pants::Engine engine;
    Recorder client(engine);
    Connected c(engine, client);
    // More than loopback's socket buffers hold: the first send takes part.
    const std::string first = pattern(32 << 20, 1);
    const std::string second = pattern(100000, 2);
    client.write(first);
    run_until(engine, [&] { return client.pending_write_bytes() < first.size(); });
    REQUIRE(client.pending_write_bytes() > 0);  // the rest waits for the peer
    CHECK(client.writes_drained == 0);          // nothing drained yet
    client.write(second);                       // behind the rest, not beside it
    engine.poll(std::chrono::milliseconds(0));
    CHECK(client.writes_drained == 0);
    const std::string expected = first + second;
    std::string got;
    run_until(engine, [&] {
        c.peer->drain(got);
        return got.size() >= expected.size();
    });
    CHECK(got.size() == expected.size());
    CHECK(got == expected);
    run_until(engine, [&] { return client.writes_drained > 0; });
    for (int i = 0; i < 3; ++i) engine.poll(std::chrono::milliseconds(0));
    CHECK(client.writes_drained == 1);  // one drain: the queue emptied once
    CHECK(client.pending_write_bytes() == 0);
    CHECK(client.events == std::vector<std::string>{"connect"});
}

namespace {
// Writes twice per read and records when on_write runs relative to them.
struct TwoWrites : Recorder {
    using Recorder::Recorder;
    std::vector<std::string> order;
    void on_read(std::string_view d) override {
        Recorder::on_read(d);
        write("<" + std::string(d));
        order.push_back("write");
        write(">");
        order.push_back("write");
    }
    void on_write() override {
        Recorder::on_write();
        order.push_back("on_write");
    }
};
}  // namespace

TEST_CASE("a turn's writes leave in one send made at once, and on_write follows them, never inside write()") {
    pants::Engine engine;
    TwoWrites client(engine);
    Connected c(engine, client);
    for (int round = 0; round < 3; ++round) {
        const std::string msg = "ping" + std::to_string(round);
        c.peer->send(msg);
        client.order.clear();
        run_until(engine, [&] { return !client.order.empty(); });  // on_read ran; the flush comes next
        const auto before = engine.backend().submitted();
        run_until(engine, [&] { return client.writes_drained == round + 1; });
        CHECK(engine.backend().submitted() - before == 1);  // one send for both writes
        CHECK(client.order == std::vector<std::string>{"write", "write", "on_write"});
        std::string got;
        run_until(engine, [&] {
            c.peer->drain(got);
            return got.size() >= msg.size() + 2;
        });
        CHECK(got == "<" + msg + ">");
    }
}

TEST_CASE("a send made at once to a peer that reset reports the error, then on_close, and no on_write") {
    pants::Engine engine;
    Recorder client(engine);
    Connected c(engine, client);
    c.peer->reset();  // RST: the next send fails
    client.write("after the reset");
    run_until(engine, [&] { return client.closes == 1; });
    REQUIRE(client.events.size() == 3);
    CHECK(client.events[0] == "connect");
    CHECK(client.events[2] == "close");
    CHECK(client.writes_drained == 0);
    CHECK((client.error == std::errc::connection_reset || client.error == std::errc::broken_pipe));
    if (sends_at_once(engine)) {
        // The flush runs before the turn's wait: the send hears of it first.
        CHECK(client.events[1] == "write_error");
    } else {
        // io_uring's armed receive may complete with the reset first.
        CHECK((client.events[1] == "write_error" || client.events[1] == "read_error"));
    }
}

TEST_CASE("end() after a write sent at once delivers every byte, then the end of the stream, then on_close") {
    pants::Engine engine;
    Recorder client(engine);
    Connected c(engine, client);
    const std::string msg = pattern(3000, 7);
    client.write(msg);
    client.end();
    std::string got;
    run_until(engine, [&] { return !c.peer->drain(got); });  // false at EOF
    CHECK(got == msg);
    ::close(std::exchange(c.peer->fd, -1));  // our close ends the client's linger
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(client.events == std::vector<std::string>{"connect", "close"});
    CHECK(client.writes_drained == 0);  // end() finishes instead of on_write
}

namespace {
// Writes the next chunk from on_write (Pants' way to stream a reply in
// pieces) and stops the engine after the last one drained.
struct ChunkWriter : Recorder {
    using Recorder::Recorder;
    int chunks = 40;
    int written = 0;
    std::string all;
    void write_next() {
        std::string chunk = pattern(1024, unsigned(written + 1));
        all += chunk;
        write(chunk);
        ++written;
    }
    void on_write() override {
        Recorder::on_write();
        if (written < chunks)
            write_next();
        else
            engine().stop();
    }
};
}  // namespace

TEST_CASE("a write from on_write goes out without any further event, under start()") {
    // On epoll the flush sends at once and runs on_write inside it; the
    // write made there is due at once. The engine must not then wait for
    // an event: the peer only reads, so none would come (start() would
    // block in epoll_wait until the watchdog).
    pants::Engine engine;
    ChunkWriter client(engine);
    Connected c(engine, client);
    client.write_next();
    test::Watchdog watchdog(engine, std::chrono::seconds(20));
    engine.start();
    CHECK_FALSE(watchdog.fired());
    CHECK(client.written == client.chunks);
    std::string got;
    run_until(engine, [&] {
        c.peer->drain(got);
        return got.size() >= client.all.size();
    });
    CHECK(got == client.all);
}
