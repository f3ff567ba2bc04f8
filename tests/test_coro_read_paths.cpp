// The coroutine read path of issue 14 (io_uring echo instructions): a
// completion hands its chunk straight to the read() that waits, resuming it
// inside the completion (never inside read() itself), and read() tries the
// buffer before it suspends. Each case checks what that path must keep:
// frames in order whichever way a read() completes, a stream destroyed by
// the coroutine that the completion resumed, and a frame that dies while
// its read() waits (or while its cancelled read() waits for the next turn)
// never being resumed.
#include "net_helpers.hpp"
#include "watchdog.hpp"

#include <memory>

#include <pants/detail/cancel.hpp>

using namespace test;
using pants::Engine;

namespace {

// A stream adopted from one end of a socketpair, the test holding the other.
struct Pair {
    explicit Pair(Engine& engine) {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        stream = std::make_unique<pants::Stream>(engine, fds[0]);
        peer.fd = fds[1];
        ::fcntl(peer.fd, F_SETFL, O_NONBLOCK);
    }
    std::unique_ptr<pants::Stream> stream;
    RawPeer peer;
};

std::string describe(const pants::Result<std::string_view>& r) {
    if (r) return std::string(*r);
    return r.error() == pants::NetError::end_of_stream ? "end" : r.error().message();
}

// One read(), then counts that it was resumed.
pants::Task<> read_and_count(pants::Stream& s, int& resumed) {
    auto r = co_await s.read();
    ++resumed;
    (void)r;
}

pants::Task<> read_into(pants::Stream& s, std::string& got) { got = describe(co_await s.read()); }

// What a fresh read() on `s` gets (the stream still works).
std::string read_next(Engine& engine, pants::Stream& s) {
    std::string got;
    engine.spawn(read_into(s, got));
    run_until(engine, [&] { return !got.empty(); });
    return got;
}

}  // namespace

TEST_CASE("a read that completes from the buffer, then one that waits, get their frames in order") {
    Engine engine;
    Watchdog watchdog(engine, std::chrono::seconds(20));
    Pair pair(engine);
    std::vector<std::string> frames;
    bool ended = false;
    auto reader = [&](pants::Stream& s) -> pants::Task<> {
        // "ABB" comes as one chunk: read_exactly(1) takes "A" and leaves
        // "BB", which the next read() finds buffered (no suspension); the
        // read() after that finds nothing and waits for "CCC", which the
        // receive completion hands to it directly.
        frames.push_back(describe(co_await s.read_exactly(1)));
        for (;;) {
            auto r = co_await s.read();
            frames.push_back(describe(r));
            if (!r) break;
        }
        ended = true;
    };
    engine.spawn(reader(*pair.stream));
    pair.peer.send("ABB");
    run_until(engine, [&] { return frames.size() == 2; });
    CHECK(frames == std::vector<std::string>{"A", "BB"});
    pair.peer.send("CCC");
    run_until(engine, [&] { return frames.size() == 3; });
    pair.peer.send("DDDD");
    run_until(engine, [&] { return frames.size() == 4; });
    ::shutdown(pair.peer.fd, SHUT_WR);
    run_until(engine, [&] { return ended; });
    CHECK(frames == std::vector<std::string>{"A", "BB", "CCC", "DDDD", "end"});
    CHECK_FALSE(watchdog.fired());
}

TEST_CASE("a coroutine that destroys its stream in the read the receive resumed ends the stream cleanly") {
    // The receive completion resumes the coroutine from inside its own
    // handler; the Stream is gone when the handler looks at the stream's
    // state again (its I/O state must still be there: ASan checks).
    Engine engine;
    Watchdog watchdog(engine, std::chrono::seconds(20));
    Pair pair(engine);
    std::string got;
    bool done = false;
    auto reader = [&](std::unique_ptr<pants::Stream>& s) -> pants::Task<> {
        auto r = co_await s->read();
        got = describe(r);
        s.reset();
        done = true;
    };
    engine.spawn(reader(pair.stream));
    pair.peer.send("hello");
    run_until(engine, [&] { return done; });
    CHECK(got == "hello");
    CHECK_FALSE(pair.stream);
    // The socket closes once the kernel gave the receive back: the peer sees
    // the end of the stream.
    CHECK(read_to_end(engine, pair.peer).empty());
    run_until(engine, [&] { return engine.backend().in_flight() == 0; });
    CHECK_FALSE(watchdog.fired());
}

TEST_CASE("a coroutine destroyed while its read waits is never resumed, and the stream reads on") {
    Engine engine;
    Watchdog watchdog(engine, std::chrono::seconds(20));
    Pair pair(engine);
    int resumed = 0;
    pants::detail::CancelState cancel;
    pants::Task<> task = read_and_count(*pair.stream, resumed);
    task.handle().promise().set_cancel_state(&cancel);
    task.handle().resume();  // runs to the read(), which waits
    REQUIRE_FALSE(task.done());
    SUBCASE("with the read linked") {}
    SUBCASE("with the read cancelled, its resumption due on the next turn") {
        // The frame must take the scheduled resumption with it.
        cancel.request();
    }
    task = {};
    for (int i = 0; i < 3; ++i) engine.poll(std::chrono::milliseconds(0));
    CHECK(resumed == 0);
    pair.peer.send("after");
    CHECK(read_next(engine, *pair.stream) == "after");
    CHECK(resumed == 0);
    CHECK_FALSE(watchdog.fired());
}

TEST_CASE("a cancelled read resumes on a later turn with ECANCELED, and a second cancel changes nothing") {
    Engine engine;
    Watchdog watchdog(engine, std::chrono::seconds(20));
    Pair pair(engine);
    std::vector<std::string> results;
    auto reader = [&](pants::Stream& s) -> pants::Task<> {
        auto r = co_await s.read();
        results.push_back(r ? std::string(*r) : r.error() == std::errc::operation_canceled ? "cancelled" : "other");
        // The same awaiter type once more, after a deferred resumption.
        auto again = co_await s.read();
        results.push_back(describe(again));
    };
    pants::detail::CancelState cancel;
    pants::Task<> task = reader(*pair.stream);
    task.handle().promise().set_cancel_state(&cancel);
    task.handle().resume();
    cancel.request();
    cancel.request();
    CHECK(results.empty());  // never inside the canceller's call
    engine.poll(std::chrono::milliseconds(0));
    // Resumed once, on that turn; the chain stays cancelled, so the next
    // read fails at once (inside the same resumption).
    REQUIRE(results.size() == 2);
    CHECK(results[0] == "cancelled");
    CHECK(results[1] == std::make_error_code(std::errc::operation_canceled).message());
    CHECK(task.done());
    CHECK_FALSE(watchdog.fired());
}

TEST_CASE("a read that waits at once still sees a delimiter, a read_exactly and a close set between reads") {
    // read() checks the steady state (nothing new, no delimiter, open) first
    // and waits without looking further; whatever the coroutine changed
    // since its last read() must send it the long way.
    Engine engine;
    Watchdog watchdog(engine, std::chrono::seconds(20));
    Pair pair(engine);
    std::vector<std::string> frames;
    bool done = false;
    auto reader = [&](pants::Stream& s) -> pants::Task<> {
        auto one = co_await s.read();  // waits at once
        // The frame is still there after a co_await write() of it.
        auto echoed = co_await s.write(*one);
        frames.push_back(describe(one) + (echoed ? "+echoed" : "+write failed"));
        s.read_delimiter = "\n";
        frames.push_back(describe(co_await s.read()));  // "two", "thr" stays buffered
        s.read_delimiter = pants::ReadDelimiter();
        frames.push_back(describe(co_await s.read()));  // "thr", from the buffer
        frames.push_back(describe(co_await s.read_exactly(3)));  // waits, then "abc"
        frames.push_back(describe(co_await s.read()));  // "def", from the buffer
        s.close();
        frames.push_back(describe(co_await s.read()));
        auto late = co_await s.write("late");
        frames.push_back(late ? "written" : "write failed");
        done = true;
    };
    engine.spawn(reader(*pair.stream));
    pair.peer.send("one");
    run_until(engine, [&] { return frames.size() == 1; });
    std::string back;
    run_until(engine, [&] {
        pair.peer.drain(back);
        return back == "one";
    });
    pair.peer.send("two\nthr");
    run_until(engine, [&] { return frames.size() == 3; });
    pair.peer.send("abcdef");
    run_until(engine, [&] { return done; });
    CHECK(frames == std::vector<std::string>{"one+echoed", "two", "thr", "abc", "def",
                                             pants::make_error_code(pants::NetError::closed).message(), "write failed"});
    CHECK_FALSE(watchdog.fired());
}

TEST_CASE("a coroutine that closes in the read the receive resumed leaves a second reader to the close") {
    // The receive resumes the first reader; it closes and reads again (an
    // error at once), so when the receive looks again nothing is buffered,
    // a reader waits and the stream is closing: the second reader must get
    // the close's error on a later turn, not a frame, and not hang.
    Engine engine;
    Watchdog watchdog(engine, std::chrono::seconds(20));
    Pair pair(engine);
    std::vector<std::string> first;
    std::string second;
    auto closer = [&](pants::Stream& s) -> pants::Task<> {
        first.push_back(describe(co_await s.read()));
        s.close();
        first.push_back(describe(co_await s.read()));
    };
    engine.spawn(closer(*pair.stream));
    engine.spawn(read_into(*pair.stream, second));
    pair.peer.send("hello");
    run_until(engine, [&] { return !second.empty(); });
    const std::string closed = pants::make_error_code(pants::NetError::closed).message();
    CHECK(first == std::vector<std::string>{"hello", closed});
    CHECK(second == closed);
    CHECK(read_to_end(engine, pair.peer).empty());
    CHECK_FALSE(watchdog.fired());
}
