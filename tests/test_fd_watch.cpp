// Descriptors from elsewhere: Engine::watch() and co_await readable() /
// writable() on pipes, eventfds and socketpairs (issue 10).
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "net_helpers.hpp"

using namespace std::chrono_literals;

namespace {

struct Pipe {
    int read_end = -1;
    int write_end = -1;
    Pipe() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Pipe() {
        if (read_end >= 0) ::close(read_end);
        if (write_end >= 0) ::close(write_end);
    }
    void put(std::string_view s) const { REQUIRE(::write(write_end, s.data(), s.size()) == ssize_t(s.size())); }
    std::string drain() const {
        std::string out;
        char buf[4096];
        ssize_t n;
        while ((n = ::read(read_end, buf, sizeof buf)) > 0) out.append(buf, std::size_t(n));
        return out;
    }
    void close_write() { ::close(std::exchange(write_end, -1)); }
};

struct SocketPair {
    int a = -1, b = -1;
    SocketPair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        a = fds[0];
        b = fds[1];
    }
    ~SocketPair() {
        ::close(a);
        ::close(b);
    }
};

// Turns the loop a few times (watches report on a later turn, not inline).
void turns(pants::Engine& engine, int n = 5) {
    for (int i = 0; i < n; ++i) engine.poll(1ms);
}

}  // namespace

TEST_CASE("a watch on a pipe reports each write, never inline") {
    pants::Engine engine;
    Pipe pipe;
    std::string got;
    int calls = 0;
    pants::FdWatch w = engine.watch(pipe.read_end, pants::FdEvents::readable, [&](pants::FdEvents ev) {
        CHECK(has(ev, pants::FdEvents::readable));
        ++calls;
        got += pipe.drain();
    });
    CHECK(w.active());
    CHECK(w.fd() == pipe.read_end);
    turns(engine);
    CHECK(calls == 0);  // nothing to read yet
    pipe.put("one ");
    CHECK(calls == 0);
    test::run_until(engine, [&] { return calls == 1; });
    pipe.put("two");
    test::run_until(engine, [&] { return calls == 2; });
    CHECK(got == "one two");
    turns(engine);
    CHECK(calls == 2);  // drained: nothing more to say
}

TEST_CASE("a watch on a descriptor already ready reports it at once") {
    pants::Engine engine;
    Pipe pipe;
    pipe.put("early");
    std::string got;
    pants::FdWatch w = engine.watch(pipe.read_end, pants::FdEvents::readable, [&](pants::FdEvents) { got += pipe.drain(); });
    CHECK(got.empty());  // never inside watch()
    test::run_until(engine, [&] { return got == "early"; });
}

TEST_CASE("cancel from inside the callback stops the watch for good") {
    pants::Engine engine;
    Pipe pipe;
    int calls = 0;
    pants::FdWatch w;
    w = engine.watch(pipe.read_end, pants::FdEvents::readable, [&](pants::FdEvents) {
        ++calls;
        pipe.drain();
        w.cancel();
        w.cancel();  // twice is fine
    });
    pipe.put("x");
    test::run_until(engine, [&] { return calls == 1; });
    CHECK_FALSE(w.active());
    pipe.put("y");
    turns(engine, 10);
    CHECK(calls == 1);
    CHECK(engine.backend().in_flight() == 0);  // the poll came back
}

TEST_CASE("a watch removed while its completion is in flight never calls back") {
    pants::Engine engine;
    Pipe pipe;
    int calls = 0;
    auto token = std::make_shared<int>(0);
    {
        pants::FdWatch w = engine.watch(pipe.read_end, pants::FdEvents::readable, [&calls, token](pants::FdEvents) { ++calls; });
        engine.poll(0ms);  // armed
        pipe.put("data");  // the kernel may post the readiness now
    }  // the handle dies before the engine has looked
    CHECK(token.use_count() == 2);  // the callback lives until the kernel lets go
    test::run_until(engine, [&] { return engine.backend().in_flight() == 0; });
    CHECK(calls == 0);
    CHECK(token.use_count() == 1);
}

TEST_CASE("modify switches the events and looks at the descriptor afresh") {
    pants::Engine engine;
    SocketPair sp;
    std::vector<pants::FdEvents> seen;
    pants::FdWatch w = engine.watch(sp.a, pants::FdEvents::readable, [&](pants::FdEvents ev) { seen.push_back(ev); });
    turns(engine);
    CHECK(seen.empty());  // writable all along, but not asked for
    w.modify(pants::FdEvents::writable);
    CHECK(w.events() == pants::FdEvents::writable);
    test::run_until(engine, [&] { return !seen.empty(); });
    CHECK(has(seen[0], pants::FdEvents::writable));
    CHECK_FALSE(has(seen[0], pants::FdEvents::readable));
    w.modify(pants::FdEvents::readable);
    seen.clear();
    turns(engine);
    CHECK(seen.empty());
    REQUIRE(::write(sp.b, "z", 1) == 1);
    test::run_until(engine, [&] { return !seen.empty(); });
    CHECK(seen[0] == pants::FdEvents::readable);
}

TEST_CASE("hangup is reported even when only readable was asked for") {
    pants::Engine engine;
    Pipe pipe;
    pants::FdEvents last = pants::FdEvents::none;
    pants::FdWatch w = engine.watch(pipe.read_end, pants::FdEvents::readable, [&](pants::FdEvents ev) { last = ev; });
    pipe.close_write();
    test::run_until(engine, [&] { return has(last, pants::FdEvents::hangup); });
}

TEST_CASE("two watches on one descriptor are both told") {
    pants::Engine engine;
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    REQUIRE(efd >= 0);
    int first = 0, second = 0;
    pants::FdWatch a = engine.watch(efd, pants::FdEvents::readable, [&](pants::FdEvents) { ++first; });
    pants::FdWatch b = engine.watch(efd, pants::FdEvents::readable, [&](pants::FdEvents) { ++second; });
    std::uint64_t one = 1;
    REQUIRE(::write(efd, &one, sizeof one) == sizeof one);
    test::run_until(engine, [&] { return first >= 1 && second >= 1; });
    a.cancel();
    b = pants::FdWatch();  // move-assigning cancels the old watch too
    test::run_until(engine, [&] { return engine.backend().in_flight() == 0; });
    ::close(efd);
}

TEST_CASE("a callback that throws goes to the error handler and the watch goes on") {
    pants::Engine engine;
    int reported = 0;
    engine.set_error_handler([&](std::exception_ptr) { ++reported; });
    Pipe pipe;
    int calls = 0;
    pants::FdWatch w = engine.watch(pipe.read_end, pants::FdEvents::readable, [&](pants::FdEvents) {
        ++calls;
        pipe.drain();
        throw std::runtime_error("callback failed");
    });
    pipe.put("a");
    test::run_until(engine, [&] { return calls == 1; });
    pipe.put("b");
    test::run_until(engine, [&] { return calls == 2; });
    CHECK(reported == 2);
    CHECK(w.active());
}

TEST_CASE("watch refuses descriptors that cannot be polled") {
    pants::Engine engine;
    CHECK_THROWS_AS((void)engine.watch(-1, pants::FdEvents::readable, [](pants::FdEvents) {}), std::system_error);
    test::TempDir dir("pants-fd-watch");
    int file = ::open(dir.write("f", "x").c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(file >= 0);
    try {
        (void)engine.watch(file, pants::FdEvents::readable, [](pants::FdEvents) {});
        FAIL("a regular file was accepted");
    } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::operation_not_permitted);
    }
    ::close(file);
}

TEST_CASE("a handle may outlive its engine") {
    Pipe pipe;
    pants::FdWatch w;
    {
        pants::Engine engine;
        w = engine.watch(pipe.read_end, pants::FdEvents::readable, [](pants::FdEvents) {});
        engine.poll(0ms);
    }
    CHECK_FALSE(w.active());
    w.cancel();
}

// --- co_await -------------------------------------------------------------------

namespace {

pants::Task<std::string> read_when_ready(pants::Engine& engine, int fd) {
    auto ev = co_await engine.readable(fd);
    if (!ev) co_return "error: " + ev.error().message();
    std::uint64_t value = 0;
    if (::read(fd, &value, sizeof value) != sizeof value) co_return "short read";
    co_return std::to_string(value);
}

pants::Task<pants::Result<pants::FdEvents>> wait_readable(pants::Engine& engine, int fd) {
    co_return co_await engine.readable(fd);
}

}  // namespace

TEST_CASE("co_await readable resumes when an eventfd is written") {
    pants::Engine engine;
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    REQUIRE(efd >= 0);
    engine.defer(10ms, [efd] {
        std::uint64_t v = 42;
        REQUIRE(::write(efd, &v, sizeof v) == sizeof v);
    });
    CHECK(engine.run(read_when_ready(engine, efd)) == "42");
    ::close(efd);
}

TEST_CASE("co_await writable on a socket with room resumes at once") {
    pants::Engine engine;
    SocketPair sp;
    auto task = [](pants::Engine& e, int fd) -> pants::Task<pants::Result<pants::FdEvents>> { co_return co_await e.writable(fd); };
    auto ev = engine.run(task(engine, sp.a));
    REQUIRE(ev);
    CHECK(has(*ev, pants::FdEvents::writable));
}

TEST_CASE("co_await readable on a bad descriptor is an error, not a throw") {
    pants::Engine engine;
    auto ev = engine.run(wait_readable(engine, -1));
    REQUIRE_FALSE(ev);
    CHECK(ev.error() == std::errc::bad_file_descriptor);
}

TEST_CASE("a readable wait is cancelled by a timeout and the poll comes back") {
    pants::Engine engine;
    Pipe pipe;  // never written
    auto r = engine.run(pants::with_timeout(engine, 20ms, wait_readable(engine, pipe.read_end)));
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::timed_out);
    test::run_until(engine, [&] { return engine.backend().in_flight() == 0; });
}

TEST_CASE("a coroutine destroyed while waiting for readable is safe") {
    Pipe pipe;
    {
        pants::Engine engine;
        engine.spawn(wait_readable(engine, pipe.read_end));
        engine.poll(0ms);
        CHECK(engine.detached_tasks() == 1);
        pipe.put("late");  // a completion may be on its way as the engine goes
    }  // ~Engine cancels the task; its frame and the poll are freed in order
    CHECK(pipe.drain() == "late");  // nobody read it
}

TEST_CASE("readable waits on two pipes: the first to be written wins") {
    pants::Engine engine;
    Pipe p1, p2;
    engine.defer(5ms, [&] { p2.put("2"); });
    auto [index, value] = engine.run([](pants::Engine& e, int a, int b) -> pants::Task<std::pair<std::size_t, bool>> {
        auto [i, v] = co_await pants::when_any(wait_readable(e, a), wait_readable(e, b));
        co_return std::pair{i, i == 1 && std::get<1>(v).has_value()};
    }(engine, p1.read_end, p2.read_end));
    CHECK(index == 1);
    CHECK(value);
    test::run_until(engine, [&] { return engine.backend().in_flight() == 0; });
}

TEST_CASE("a watch added while another holds the descriptor sees data already there") {
    pants::Engine engine;
    Pipe pipe;
    int first = 0, second = 0;
    pants::FdWatch a = engine.watch(pipe.read_end, pants::FdEvents::readable, [&](pants::FdEvents) { ++first; });
    pipe.put("left unread");
    test::run_until(engine, [&] { return first == 1; });
    pants::FdWatch b = engine.watch(pipe.read_end, pants::FdEvents::readable, [&](pants::FdEvents) { ++second; });
    test::run_until(engine, [&] { return second == 1; });
    CHECK(first == 1);  // no new wakeup for the first
}

TEST_CASE("a watch cancelled by another's callback in the same turn is not called") {
    pants::Engine engine;
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    REQUIRE(efd >= 0);
    int calls = 0;
    pants::FdWatch a, b;
    a = engine.watch(efd, pants::FdEvents::readable, [&](pants::FdEvents) {
        ++calls;
        b.cancel();
    });
    b = engine.watch(efd, pants::FdEvents::readable, [&](pants::FdEvents) {
        ++calls;
        a.cancel();
    });
    engine.poll(0ms);  // both armed
    std::uint64_t one = 1;
    REQUIRE(::write(efd, &one, sizeof one) == sizeof one);
    test::run_until(engine, [&] { return calls >= 1; });
    turns(engine, 10);
    CHECK(calls == 1);
    CHECK(a.active() != b.active());
    ::close(efd);
}

TEST_CASE("after a readable wait and a close, a descriptor reusing the number is watched afresh") {
    // The epoll backend kept the first descriptor registered once its wait
    // was over; closed, it left the epoll set without a word, and a new
    // descriptor with its number was taken for already registered.
    pants::Engine engine;
    int reused = -1;
    {
        SocketPair first;
        REQUIRE(::write(first.b, "x", 1) == 1);
        REQUIRE(engine.run(wait_readable(engine, first.a)));
        reused = first.a;
    }  // closed by its owner, nothing waiting on it
    SocketPair second;
    REQUIRE(second.a == reused);
    int calls = 0;
    pants::FdWatch w = engine.watch(second.a, pants::FdEvents::readable, [&](pants::FdEvents) {
        ++calls;
        char c;
        while (::read(second.a, &c, 1) > 0) {
        }
    });
    turns(engine);
    REQUIRE(::write(second.b, "y", 1) == 1);
    CHECK(engine.run_until([&] { return calls == 1; }, 5s));
}
