// Regression tests, one per bug found in review of the Stream layer.
#include "net_helpers.hpp"


using namespace test;
using pants::Engine;


TEST_CASE("a handler waiting in read() when the peer resets returns, and its stream is freed safely") {
    Engine engine;
    int done = 0;
    std::error_code seen;
    pants::Server server(
        [&](pants::Stream& s) -> pants::Task<> {
            auto r = co_await s.read();
            if (!r) seen = r.error();
            ++done;
        },
        engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    run_until(engine, [&] { return server.connections().size() == 1; });
    peer.reset();
    run_until(engine, [&] { return done == 1 && server.connections().empty(); });
    CHECK(seen == std::errc::connection_reset);
}

TEST_CASE("a Server<> destroyed with an accepted connection nobody took is safe") {
    Engine engine;
    auto server = std::make_unique<pants::Server<>>(engine);
    REQUIRE(server->listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server->local_address());
    run_until(engine, [&] { return server->connections().size() == 1; });
    server.reset();
    std::string got;
    run_until(engine, [&] { return !peer.drain(got); });  // the peer sees it closed
}

TEST_CASE("a handler that returns at once, then Server::close, is safe") {
    Engine engine;
    int ran = 0;
    auto server = std::make_unique<pants::Server<>>(
        [&](pants::Stream&) -> pants::Task<> {
            ++ran;
            co_return;
        },
        engine);
    REQUIRE(server->listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server->local_address());
    run_until(engine, [&] { return ran == 1; });
    server->close();
    server.reset();
    std::string got;
    run_until(engine, [&] { return !peer.drain(got); });
}

namespace {
struct TwoParts : pants::Connection {
    void on_connect() override {
        write("ABCD");
        // The second part lands while the reader holds its first view.
        engine().defer(std::chrono::milliseconds(10), [this] { write(std::string(200'000, 'z')); });
    }
};
}  // namespace

TEST_CASE("a read() result stays valid while more bytes arrive") {
    Engine engine;
    pants::Server<TwoParts> server(engine);
    REQUIRE(server.listen(loopback()));
    pants::Client client(engine);
    std::string before, after;
    std::size_t rest = 0;
    auto co = [&]() -> pants::Task<> {
        REQUIRE(co_await client.connect(*server.local_address()));
        auto r = co_await client.read_exactly(4);
        REQUIRE(r);
        before = *r;
        co_await engine.sleep(std::chrono::milliseconds(100));
        after = *r;
        while (rest < 200'000) {
            auto more = co_await client.read();
            REQUIRE_MESSAGE(more, (more ? "" : more.error().message()));
            rest += more->size();
        }
    };
    engine.run(co());
    CHECK(before == "ABCD");
    CHECK(after == "ABCD");
    CHECK(rest == 200'000);
}

TEST_CASE("end() delivers everything queued even when the peer sent bytes nobody read") {
    Engine engine;
    struct Big : pants::Connection {
        void on_connect() override {
            write(pattern(8 << 20, 5));
            end();
        }
    };
    pants::Server<Big> server(engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    peer.send("late bytes");  // unread by the server: a plain close() would RST
    std::string got;
    bool open = true;
    run_until(engine, [&] {
        open = peer.drain(got, 256 << 10);  // slower than the sender
        return !open;
    });
    CHECK(got.size() == std::size_t(8 << 20));
    CHECK(got == pattern(8 << 20, 5));
}

TEST_CASE("end() before a failed connect still gives on_connect_error and on_close") {
    Engine engine;
    pants::Server<pants::Connection> probe(engine);
    REQUIRE(probe.listen(loopback()));
    auto addr = *probe.local_address();
    probe.close();
    engine.poll(std::chrono::milliseconds(0));
    Recorder client(engine);
    client.connect(addr);
    client.write("hello");
    client.end();
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(client.events == std::vector<std::string>{"connect_error", "close"});
    CHECK(client.error == std::errc::connection_refused);
}

TEST_CASE("close() right after connect() ends the stream even if the connect succeeds") {
    Engine engine;
    pants::Server<pants::Connection> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    client.close();
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(client.events == std::vector<std::string>{"close"});
    CHECK_FALSE(client.connected());
}

TEST_CASE("handing a paused coroutine reader back to callbacks delivers everything and on_close") {
    Engine engine;
    constexpr std::size_t N = 1 << 20;
    struct Sender : pants::Connection {
        void on_connect() override {
            write(pattern(N, 9));
            end();
        }
    };
    pants::Server<Sender> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    std::string first;
    bool handed = false;
    auto co = [&]() -> pants::Task<> {
        REQUIRE(co_await client.connect(*server.local_address()));
        auto r = co_await client.read();
        REQUIRE(r);
        first = *r;
        co_await engine.sleep(std::chrono::milliseconds(100));  // fall behind: receiving pauses
        client.callbacks();
        handed = true;
    };
    engine.spawn(co());
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(handed);
    CHECK(first + client.got == pattern(N, 9));
}

namespace {
struct Echo : pants::Connection {
    void on_read(std::string_view data) override { write(data); }
};
struct Thrower : pants::Connection {
    void on_read(std::string_view) override { throw std::runtime_error("user bug"); }
};
}  // namespace

TEST_CASE("an on_read that throws costs its engine no receive buffer") {
    pants::Engine::Options options;
    options.buffer_count = 8;
    Engine engine(options);
    int errors = 0;
    engine.set_error_handler([&](std::exception_ptr) { ++errors; });
    pants::Server<Thrower> bad(engine);
    REQUIRE(bad.listen(loopback()));
    std::vector<std::unique_ptr<RawPeer>> peers;
    for (int i = 0; i < 20; ++i) {
        peers.push_back(std::make_unique<RawPeer>(RawPeer::connect_to(*bad.local_address())));
        peers.back()->send("boom");
    }
    run_until(engine, [&] { return errors >= 20; });
    pants::Server<Echo> good(engine);
    REQUIRE(good.listen(loopback()));
    Recorder client(engine);
    client.connect(*good.local_address());
    client.write("still served");
    run_until(engine, [&] { return client.got == "still served"; });
}
