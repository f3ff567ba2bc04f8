// Graceful server shutdown (issue 12): server.shutdown(deadline) stops
// accepting, ends every connection, and reports once all are gone or the
// deadline has cut off the rest. Callback and coroutine servers.
#include "net_helpers.hpp"

using namespace test;
using pants::Engine;

namespace {

constexpr std::size_t kPayload = 4 << 20;  // far more than the socket buffers hold

// Sends a large payload as soon as it is accepted.
struct Sender : pants::Connection {
    static inline int closes = 0;
    void on_connect() override { write(pattern(kPayload)); }
    void on_close() override { ++closes; }
};

}  // namespace

TEST_CASE("shutdown delivers everything queued before it, then reports once") {
    Engine engine;
    pants::Server<Sender> server(engine);
    REQUIRE(server.listen(loopback()));
    Sender::closes = 0;
    auto peer = RawPeer::connect_to(*server.local_address());
    run_until(engine, [&] { return server.connections().size() == 1; });
    REQUIRE(server.connections()[0]->pending_write_bytes() > 0);  // still queued

    int done = 0;
    server.shutdown(std::chrono::seconds(20), [&] { ++done; });
    CHECK_FALSE(server.listening());
    CHECK(server.shutting_down());
    CHECK(done == 0);  // never inside the call

    CHECK(read_to_end(engine, peer) == pattern(kPayload));
    ::close(std::exchange(peer.fd, -1));  // the stream lingers until we close
    run_until(engine, [&] { return done == 1; });
    CHECK(Sender::closes == 1);
    CHECK(server.connections().empty());
    CHECK_FALSE(server.shutting_down());
    for (int i = 0; i < 5; ++i) engine.poll(std::chrono::milliseconds(1));
    CHECK(done == 1);
}

TEST_CASE("shutdown finishes by its deadline when a peer never reads") {
    Engine engine;
    pants::Server<Sender> server(engine);
    REQUIRE(server.listen(loopback()));
    Sender::closes = 0;
    auto peer = RawPeer::connect_to(*server.local_address());
    run_until(engine, [&] { return server.connections().size() == 1; });

    int done = 0;
    const auto start = Engine::now();
    server.shutdown(std::chrono::milliseconds(200), [&] { ++done; });
    run_until(engine, [&] { return done == 1; });
    const auto took = Engine::now() - start;
    CHECK(took >= std::chrono::milliseconds(200));
    CHECK(took < std::chrono::seconds(5));
    CHECK(Sender::closes == 1);  // closed by the deadline, on_close once
    CHECK(server.connections().empty());
    std::string got;
    while (peer.drain(got)) {
        if (got.size() >= kPayload) break;
        if (got.empty()) break;
        engine.poll(std::chrono::milliseconds(1));
    }
    CHECK(got.size() < kPayload);  // the peer never read: the rest was dropped
}

TEST_CASE("shutdown of a server with no connections reports on a later turn") {
    Engine engine;
    pants::Server<Sender> server(engine);
    REQUIRE(server.listen(loopback()));
    const auto address = *server.local_address();
    int done = 0;
    server.shutdown(std::chrono::seconds(5), [&] { ++done; });
    CHECK(done == 0);
    run_until(engine, [&] { return done == 1; });
    // Nothing listens any more.
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(::connect(fd, address.data(), address.size()) < 0);
    ::close(fd);
    // Asked again once over: reports again, on a later turn.
    server.shutdown(std::chrono::seconds(5), [&] { ++done; });
    CHECK(done == 1);
    run_until(engine, [&] { return done == 2; });
}

TEST_CASE("co_await shutdown on a coroutine server waits for every handler's stream") {
    Engine engine;
    constexpr std::size_t size = 512 << 10;
    int handlers_done = 0;
    pants::Server server(
        [&](pants::Stream& s) -> pants::Task<> {
            co_await s.write(pattern(size, 7));
            while (co_await s.read()) {
            }
            ++handlers_done;
        },
        engine);
    REQUIRE(server.listen(loopback()));
    auto a = RawPeer::connect_to(*server.local_address());
    auto b = RawPeer::connect_to(*server.local_address());
    run_until(engine, [&] { return server.connections().size() == 2; });

    bool finished = false;
    auto stop = [&]() -> pants::Task<> {
        auto r = co_await server.shutdown(std::chrono::seconds(20));
        CHECK(r.has_value());
        finished = true;
    };
    engine.spawn(stop());
    CHECK(read_to_end(engine, a) == pattern(size, 7));
    CHECK(read_to_end(engine, b) == pattern(size, 7));
    CHECK_FALSE(finished);
    ::close(std::exchange(a.fd, -1));
    ::close(std::exchange(b.fd, -1));
    run_until(engine, [&] { return finished; });
    CHECK(handlers_done == 2);
}

TEST_CASE("a second shutdown keeps the earlier deadline") {
    Engine engine;
    pants::Server<Sender> server(engine);
    REQUIRE(server.listen(loopback()));
    auto peer = RawPeer::connect_to(*server.local_address());
    run_until(engine, [&] { return server.connections().size() == 1; });
    int done = 0;
    const auto start = Engine::now();
    server.shutdown(std::chrono::seconds(60), [&] { ++done; });
    server.shutdown(std::chrono::milliseconds(100), [&] { ++done; });
    run_until(engine, [&] { return done == 2; });
    CHECK(Engine::now() - start < std::chrono::seconds(10));
}

TEST_CASE("a server destroyed during co_await shutdown resumes the waiter with closed") {
    Engine engine;
    auto server = std::make_unique<pants::Server<Sender>>(engine);
    REQUIRE(server->listen(loopback()));
    auto peer = RawPeer::connect_to(*server->local_address());
    run_until(engine, [&] { return server->connections().size() == 1; });
    std::error_code error;
    bool resumed = false;
    auto stop = [&]() -> pants::Task<> {
        auto r = co_await server->shutdown(std::chrono::seconds(60));
        if (!r) error = r.error();
        resumed = true;
    };
    engine.spawn(stop());
    engine.poll(std::chrono::milliseconds(0));
    CHECK_FALSE(resumed);
    server.reset();
    CHECK_FALSE(resumed);  // on a later turn
    run_until(engine, [&] { return resumed; });
    CHECK(error == pants::NetError::closed);
}
