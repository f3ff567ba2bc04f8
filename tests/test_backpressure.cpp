// Backpressure (issue 9): a peer that sends and never reads cannot grow a
// server's memory without bound, in callback or coroutine style.
#include "net_helpers.hpp"

using namespace test;
using pants::Engine;
using pants::NetError;
using pants::Task;

namespace {

struct Echo : pants::Connection {
    static inline std::size_t most_queued = 0;
    void on_read(std::string_view d) override {
        write(d);
        most_queued = std::max(most_queued, pending_write_bytes());
    }
};

// Sends from `peer` as fast as the kernel takes it (never reading) while
// the engine turns, until sending has been refused for 200 turns in a row
// or `limit` bytes went out. Returns the bytes sent.
std::size_t flood(Engine& engine, RawPeer& peer, std::size_t limit) {
    static const std::string chunk = pattern(1 << 16);
    std::size_t sent = 0;
    int refused = 0;
    while (sent < limit && refused < 200) {
        ssize_t n = ::send(peer.fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += std::size_t(n);
            refused = 0;
        } else {
            ++refused;
        }
        engine.poll(std::chrono::milliseconds(1));
    }
    return sent;
}

struct Producer : pants::Connection {
    static inline std::error_code error;
    static inline int closes = 0;
    Producer() {
        max_write_buffer = 4u << 20;
        pause_on_high_water = false;
    }
    void on_read(std::string_view) override {
        for (int i = 0; i < 8; ++i) write(std::string(1u << 20, 'x'));
    }
    void on_write_error(std::error_code e) override { error = e; }
    void on_close() override { ++closes; }
};

struct Lines : pants::Connection {
    static inline Lines* last = nullptr;
    std::vector<std::string> got;
    Lines() {
        read_delimiter = "\n";
        last = this;
    }
    void on_connect() override { pause_reading(); }
    void on_read(std::string_view d) override { got.emplace_back(d); }
};

}  // namespace

TEST_CASE("a callback echo stops reading from a peer that never reads") {
    Engine engine;
    Echo::most_queued = 0;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    auto peer = RawPeer::connect_to(*server.local_address());
    const std::size_t limit = 256u << 20;
    std::size_t sent = flood(engine, peer, limit);
    CHECK(sent < limit);  // the kernel pushed back: we stopped reading
    auto conns = server.connections();
    REQUIRE(conns.size() == 1);
    // What the server holds: at most high_water plus what one turn brings.
    const std::size_t high = conns[0]->high_water;
    CHECK(Echo::most_queued <= 2 * high);
    // Nothing is lost: reading everything back gives what was sent.
    ::shutdown(peer.fd, SHUT_WR);
    std::string back = read_to_end(engine, peer);
    CHECK(back.size() == sent);
}

TEST_CASE("a coroutine echo holding its read() view while it awaits write() stays bounded") {
    Engine engine;
    pants::Server server(
        [](pants::Stream& s) -> Task<> {
            for (;;) {
                auto r = co_await s.read();
                if (!r) co_return;
                auto w = co_await s.write(*r);  // the view is held across the wait
                if (!w) co_return;
            }
        },
        engine);
    REQUIRE(server.listen(loopback()));
    auto peer = RawPeer::connect_to(*server.local_address());
    const std::size_t limit = 256u << 20;
    std::size_t sent = flood(engine, peer, limit);
    CHECK(sent < limit);
    ::shutdown(peer.fd, SHUT_WR);
    std::string back = read_to_end(engine, peer);
    CHECK(back.size() == sent);
}

TEST_CASE("bytes that arrive while a coroutine holds its read() view pause the receive") {
    Engine engine;
    bool release = false;
    pants::Server server(
        [&](pants::Stream& s) -> Task<> {
            auto r = co_await s.read();  // then hold this view, reading nothing more
            while (r && !release) co_await engine.sleep(std::chrono::milliseconds(5));
        },
        engine);
    REQUIRE(server.listen(loopback()));
    auto peer = RawPeer::connect_to(*server.local_address());
    const std::size_t limit = 256u << 20;
    std::size_t sent = flood(engine, peer, limit);
    CHECK(sent < limit);  // bounded by buffer_size and the kernel's buffers
    release = true;
}

TEST_CASE("writes past max_write_buffer fail with on_write_error and close") {
    Engine engine;
    pants::Server<Producer> server(engine);
    REQUIRE(server.listen(loopback()));
    auto peer = RawPeer::connect_to(*server.local_address());
    peer.send("go");
    run_until(engine, [&] { return Producer::closes == 1; });
    CHECK(Producer::error == NetError::write_buffer_full);
}

TEST_CASE("pause_reading holds frames until resume_reading delivers them on a later turn") {
    Engine engine;
    pants::Server<Lines> server(engine);
    REQUIRE(server.listen(loopback()));
    auto peer = RawPeer::connect_to(*server.local_address());
    peer.send("a\nb\n");
    run_until(engine, [&] { return Lines::last != nullptr; });
    for (int i = 0; i < 50; ++i) engine.poll(std::chrono::milliseconds(1));
    Lines& c = *Lines::last;
    CHECK(c.reading_paused());
    CHECK(c.got.empty());
    c.resume_reading();
    CHECK(c.got.empty());  // never inside resume_reading()
    run_until(engine, [&] { return c.got.size() == 2; });
    CHECK(c.got == std::vector<std::string>{"a", "b"});
}
