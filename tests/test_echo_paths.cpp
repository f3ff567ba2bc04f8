// The shortcuts the echo hot path takes (issue 14, io_uring echo
// instructions): a coroutine's read() served inline, Engine::run() turning
// without a timed wait, and the io_uring ring fd registered per thread.
// Each case checks what the shortcut must keep: bytes in order, a lent
// view valid until the next read(), framing once a delimiter is set,
// run() ending with its task, and no engine entering another's ring.
#include "net_helpers.hpp"
#include "watchdog.hpp"

#include <memory>
#include <thread>

using namespace test;
using pants::Engine;

TEST_CASE("a coroutine reading chunk by chunk gets every byte in order and its view lasts until the next read") {
    Engine engine;
    Watchdog watchdog(engine, std::chrono::seconds(20));
    std::string got;
    int reads = 0;
    int views_changed = 0;
    bool ended = false;
    // Every third read holds its view across a suspension while more bytes
    // arrive behind it; the others read again at once (the inline path).
    pants::Server server(
        [&](pants::Stream& s) -> pants::Task<> {
            while (auto data = co_await s.read()) {
                got.append(*data);
                if (++reads % 3 != 0) continue;
                const std::string copy(*data);
                co_await engine.sleep(std::chrono::milliseconds(1));
                if (*data != copy) ++views_changed;
            }
            ended = true;
        },
        engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    const std::string sent = pattern(300'000, 7);
    std::size_t off = 0;
    run_until(engine, [&] {
        // As much as the socket takes each turn, in pieces of varied size.
        while (off < sent.size()) {
            const std::size_t n = std::min<std::size_t>(sent.size() - off, 1 + (off * 7919) % 3000);
            ssize_t w = ::send(peer.fd, sent.data() + off, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w <= 0) break;
            off += std::size_t(w);
        }
        return off == sent.size();
    });
    ::shutdown(peer.fd, SHUT_WR);
    run_until(engine, [&] { return ended; });
    CHECK(got == sent);
    CHECK(views_changed == 0);
    CHECK(reads > 3);
    CHECK_FALSE(watchdog.fired());
}

TEST_CASE("a coroutine that sets read_delimiter between reads gets frames from the next read on") {
    // The inline read takes whatever is buffered only while no delimiter is
    // set and no read_exactly() asks: after that, framing decides.
    Engine engine;
    Watchdog watchdog(engine, std::chrono::seconds(20));
    std::vector<std::string> frames;
    bool ended = false;
    pants::Server server(
        [&](pants::Stream& s) -> pants::Task<> {
            auto first = co_await s.read();
            if (!first) co_return;
            frames.emplace_back(*first);
            s.read_delimiter = "\n";
            for (int i = 0; i < 3; ++i) {
                auto line = co_await s.read();
                if (!line) co_return;
                frames.emplace_back(*line);
            }
            auto two = co_await s.read_exactly(2);
            if (!two) co_return;
            frames.emplace_back(*two);
            auto rest = co_await s.read();
            if (rest) frames.emplace_back(*rest);
            ended = true;
        },
        engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    peer.send("hello");
    run_until(engine, [&] { return frames.size() == 1; });
    peer.send("a\nbb\nccc\nxyz\n");
    run_until(engine, [&] { return ended; });
    CHECK(frames == std::vector<std::string>{"hello", "a", "bb", "ccc", "xy", "z"});
    CHECK_FALSE(watchdog.fired());
}

TEST_CASE("run() returns once its task ends, also when another thread's post ends it") {
    Engine engine;
    Watchdog watchdog(engine, std::chrono::seconds(20));
    // A timer ends the first task; a post from another thread the second
    // (a turn that waits with no timeout must still see it).
    CHECK(engine.run([&]() -> pants::Task<int> {
        co_await engine.sleep(std::chrono::milliseconds(1));
        co_return 1;
    }()) == 1);
    int posted = 0;
    std::thread poster;
    const int got = engine.run([&]() -> pants::Task<int> {
        poster = std::thread([&] { engine.post([&] { posted = 1; }); });
        while (!posted) co_await engine.sleep(std::chrono::milliseconds(0));
        co_return 2;
    }());
    poster.join();
    CHECK(got == 2);
    CHECK_FALSE(watchdog.fired());
}

TEST_CASE("an engine polled from a thread other than its own never takes a turn of this thread's engine") {
    // On io_uring an engine registers its ring fd in the table of the
    // thread that runs it, and its ring takes turns from that thread only
    // (SINGLE_ISSUER: EEXIST elsewhere). Polled here, it must fail as it
    // always did, not enter through the index its registration has in
    // that thread, which here is `here`'s ring.
    Engine here;
    here.poll(std::chrono::milliseconds(0));  // its first turn: registers here
    auto there = std::make_unique<Engine>();
    std::thread([&] { there->poll(std::chrono::milliseconds(0)); }).join();
    if (there->backend().name() == "io_uring") CHECK_THROWS_AS(there->poll(std::chrono::milliseconds(0)), std::system_error);
    there.reset();
    int fired = 0;
    auto timer = here.defer(std::chrono::milliseconds(1), [&] { ++fired; });
    run_until(here, [&] { return fired == 1; });
    // And I/O still flows through its ring.
    pants::Server server([](pants::Stream& s) -> pants::Task<> {
        while (auto data = co_await s.read()) co_await s.write(*data);
    }, here);
    REQUIRE(server.listen(loopback()));
    Recorder client(here);
    client.connect(*server.local_address());
    client.write("ping");
    run_until(here, [&] { return client.got == "ping"; });
}
