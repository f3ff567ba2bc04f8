// Coroutines: Task, spawn, sleep, cancellation, when_all, when_any, timeouts.
#include <doctest/doctest.h>

#include <pants/detail/io_awaiter.hpp>
#include <pants/pants.hpp>

#include <fcntl.h>
#include <unistd.h>

using namespace std::chrono_literals;

namespace {

pants::Task<int> answer() { co_return 42; }
pants::Task<int> add(int a) { co_return a + co_await answer(); }
pants::Task<> nothing(int& touched) {
    touched = 1;
    co_return;
}
pants::Task<int> thrower() {
    throw std::runtime_error("from task");
    co_return 0;
}
pants::Task<long> depth(int n) {
    if (n == 0) co_return 0;
    co_return 1 + co_await depth(n - 1);
}

// Reads from a pipe: an operation that stays in flight until data comes.
pants::Task<int> read_pipe(pants::Engine& engine, int fd, char* buf) {
    pants::detail::IoAwaiter op(engine.backend());
    op.kind = pants::detail::OpKind::read;
    op.fd = fd;
    op.data = buf;
    op.size = 1;
    co_return co_await op;
}

struct Pipe {
    int fds[2];
    Pipe() { REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0); }
    ~Pipe() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
};

}  // namespace

TEST_CASE("a task is lazy and gives its value to the awaiter") {
    pants::Engine engine;
    int touched = 0;
    pants::Task<> t = nothing(touched);
    CHECK(touched == 0);
    engine.run(std::move(t));
    CHECK(touched == 1);
    CHECK(engine.run(add(1)) == 43);
}

TEST_CASE("an exception in a task reaches the awaiter") {
    pants::Engine engine;
    auto outer = []() -> pants::Task<std::string> {
        try {
            co_await thrower();
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "none";
    };
    CHECK(engine.run(outer()) == "from task");
    CHECK_THROWS_AS(engine.run(thrower()), std::runtime_error);
}

// GCC turns symmetric transfer into a tail call only when it may drop
// frames; under AddressSanitizer it keeps them, so each nested resume costs
// stack. The full depth runs in the normal builds.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kDepth = 5'000;
#else
constexpr int kDepth = 100'000;
#endif

TEST_CASE("100k nested awaits do not grow the stack") {
    pants::Engine engine;
    CHECK(engine.run(depth(kDepth)) == kDepth);
}

TEST_CASE("spawn runs a detached task and reports its exception") {
    pants::Engine engine;
    int errors = 0;
    engine.set_error_handler([&](std::exception_ptr) { ++errors; });
    int done = 0;
    auto job = [&](int n) -> pants::Task<> {
        co_await engine.sleep(1ms);
        done += n;
    };
    engine.spawn(job(1));
    engine.spawn(job(2));
    engine.spawn(thrower());
    CHECK(engine.run_until([&] { return done == 3 && engine.detached_tasks() == 0; }, 5s));
    CHECK(errors == 1);
}

TEST_CASE("sleeps resume in deadline order") {
    pants::Engine engine;
    std::vector<int> order;
    auto nap = [&](int ms) -> pants::Task<> {
        auto r = co_await engine.sleep(std::chrono::milliseconds(ms));
        CHECK(r.has_value());
        order.push_back(ms);
    };
    engine.spawn(nap(30));
    engine.spawn(nap(10));
    engine.spawn(nap(20));
    engine.spawn(nap(0));
    CHECK(engine.run_until([&] { return order.size() == 4; }, 5s));
    CHECK(order == std::vector<int>{0, 10, 20, 30});
}

TEST_CASE("when_all gives every result") {
    pants::Engine engine;
    auto slow = [&](int v, int ms) -> pants::Task<int> {
        co_await engine.sleep(std::chrono::milliseconds(ms));
        co_return v;
    };
    auto both = [&]() -> pants::Task<std::tuple<int, int, std::monostate>> {
        int touched = 0;
        co_return co_await pants::when_all(slow(1, 20), slow(2, 5), nothing(touched));
    };
    auto [a, b, c] = engine.run(both());
    CHECK(a == 1);
    CHECK(b == 2);
    (void)c;

    auto many = [&]() -> pants::Task<std::vector<int>> {
        std::vector<pants::Task<int>> tasks;
        for (int i = 0; i < 10; ++i) tasks.push_back(slow(i, 10 - i));
        co_return co_await pants::when_all(std::move(tasks));
    };
    CHECK(engine.run(many()) == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("when_any gives the first and cancels the losers, waiting for them") {
    pants::Engine engine;
    Pipe pipe;
    char buf[1];
    int loser_result = 1;
    auto loser = [&]() -> pants::Task<int> {
        loser_result = co_await read_pipe(engine, pipe.fds[0], buf);
        co_return loser_result;
    };
    auto quick = [&]() -> pants::Task<std::string> {
        co_await engine.sleep(5ms);
        co_return "quick";
    };
    auto race = [&]() -> pants::Task<std::pair<std::size_t, std::string>> {
        auto [index, value] = co_await pants::when_any(loser(), quick());
        co_return std::pair{index, std::get<1>(value)};
    };
    auto [index, value] = engine.run(race());
    CHECK(index == 1);
    CHECK(value == "quick");
    CHECK(loser_result == -ECANCELED);           // the loser's completion came back...
    CHECK(engine.backend().in_flight() == 0);    // ...before when_any returned
}

TEST_CASE("a timeout fires and cancels the pending operation") {
    pants::Engine engine;
    Pipe pipe;
    char buf[1];
    auto t0 = pants::Engine::now();
    pants::Result<int> r = engine.run(pants::with_timeout(engine, 20ms, read_pipe(engine, pipe.fds[0], buf)));
    CHECK_FALSE(r.has_value());
    CHECK(r.error() == std::errc::timed_out);
    CHECK(pants::Engine::now() - t0 >= 20ms);
    CHECK(engine.backend().in_flight() == 0);
}

TEST_CASE("an operation that finishes in time is not cut short") {
    pants::Engine engine;
    Pipe pipe;
    char buf[1] = {0};
    REQUIRE(::write(pipe.fds[1], "x", 1) == 1);
    auto r = engine.run(pants::with_timeout(engine, 5s, read_pipe(engine, pipe.fds[0], buf)));
    REQUIRE(r.has_value());
    CHECK(*r == 1);
    CHECK(buf[0] == 'x');
}

TEST_CASE("an engine destroyed with a suspended task cancels it and drains the operation") {
    Pipe pipe;
    char buf[1];
    int result = 1;
    {
        pants::Engine engine;
        auto reader = [&]() -> pants::Task<> { result = co_await read_pipe(engine, pipe.fds[0], buf); };
        engine.spawn(reader());
        engine.poll(0ms);
        CHECK(engine.detached_tasks() == 1);
    }
    CHECK(result == -ECANCELED);
}

namespace {

// Waits for `ms` and gives its sleep's verdict: true if it slept in full,
// false if it was cancelled.
pants::Task<bool> nap(pants::Engine& engine, int ms) {
    auto r = co_await engine.sleep(std::chrono::milliseconds(ms));
    co_return r.has_value();
}

pants::Task<int> fail_after(pants::Engine& engine, int ms) {
    co_await engine.sleep(std::chrono::milliseconds(ms));
    throw std::runtime_error("branch failed");
    co_return 0;
}

// Waits for one byte on a pipe, then gives it.
pants::Task<char> receive_byte(pants::Engine& engine, int fd) {
    char c = 0;
    int n = co_await read_pipe(engine, fd, &c);
    co_return n == 1 ? c : '?';
}

// Sleeps, then writes one byte to a pipe.
pants::Task<int> send_byte_later(pants::Engine& engine, int fd, char c) {
    co_await engine.sleep(5ms);
    co_return int(::write(fd, &c, 1));
}

}  // namespace

TEST_CASE("when_all runs its tasks concurrently: one receives what the other sends") {
    // Run one after the other, the receiver would wait for ever: the
    // timeout turns that into a failure.
    pants::Engine engine;
    Pipe pipe;
    auto both = [&]() -> pants::Task<std::tuple<char, int>> {
        co_return co_await pants::when_all(receive_byte(engine, pipe.fds[0]), send_byte_later(engine, pipe.fds[1], 'k'));
    };
    auto r = engine.run(pants::with_timeout(engine, 10s, both()));
    REQUIRE(r.has_value());
    CHECK(std::get<0>(*r) == 'k');
    CHECK(std::get<1>(*r) == 1);
}

TEST_CASE("a failing when_all branch does not cancel its siblings, and its exception comes after they end") {
    pants::Engine engine;
    bool slept_in_full = false;
    bool sibling_done = false;
    auto sibling = [&]() -> pants::Task<int> {
        slept_in_full = co_await nap(engine, 30);
        sibling_done = true;
        co_return 7;
    };
    auto all = [&]() -> pants::Task<std::string> {
        try {
            co_await pants::when_all(fail_after(engine, 1), sibling());
        } catch (const std::runtime_error& e) {
            co_return std::string(e.what()) + (sibling_done ? ", after the sibling" : ", before the sibling");
        }
        co_return "no exception";
    };
    CHECK(engine.run(all()) == "branch failed, after the sibling");
    CHECK(slept_in_full);  // not cancelled by the failure
}

TEST_CASE("an exception thrown by the winner of when_any reaches the awaiter after the losers are cancelled") {
    pants::Engine engine;
    Pipe pipe;
    char buf[1];
    int loser_result = 1;
    auto loser = [&]() -> pants::Task<int> {
        loser_result = co_await read_pipe(engine, pipe.fds[0], buf);
        co_return loser_result;
    };
    auto any = [&]() -> pants::Task<std::string> {
        try {
            co_await pants::when_any(fail_after(engine, 1), loser());
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no exception";
    };
    CHECK(engine.run(any()) == "branch failed");
    CHECK(loser_result == -ECANCELED);
    CHECK(engine.backend().in_flight() == 0);
}

TEST_CASE("when_any over a vector gives the first to finish and cancels the others") {
    pants::Engine engine;
    Pipe pipe;
    std::vector<char> bufs(3);
    std::vector<int> results(3, 1);
    auto reader = [&](int i) -> pants::Task<int> {
        results[std::size_t(i)] = co_await read_pipe(engine, pipe.fds[0], &bufs[std::size_t(i)]);
        co_return -1;
    };
    auto quick = [&]() -> pants::Task<int> {
        co_await engine.sleep(5ms);
        co_return 42;
    };
    auto race = [&]() -> pants::Task<std::pair<std::size_t, int>> {
        std::vector<pants::Task<int>> tasks;
        tasks.push_back(reader(0));
        tasks.push_back(reader(1));
        tasks.push_back(quick());
        tasks.push_back(reader(2));
        co_return co_await pants::when_any(std::move(tasks));
    };
    // Bounded: without the cancel the readers would wait for ever.
    auto r = engine.run(pants::with_timeout(engine, 10s, race()));
    REQUIRE(r.has_value());
    CHECK(r->first == 2);
    CHECK(r->second == 42);
    CHECK(results == std::vector<int>{-ECANCELED, -ECANCELED, -ECANCELED});
    CHECK(engine.backend().in_flight() == 0);
}

TEST_CASE("an exception in a when_all over a vector reaches the awaiter") {
    pants::Engine engine;
    auto all = [&]() -> pants::Task<std::string> {
        std::vector<pants::Task<int>> tasks;
        tasks.push_back(fail_after(engine, 1));
        tasks.push_back(fail_after(engine, 2));
        try {
            co_await pants::when_all(std::move(tasks));
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no exception";
    };
    CHECK(engine.run(all()) == "branch failed");
}

// Issue 9.7: now + delay overflowed, so the largest sleeps and timeouts
// ended at once.
namespace {

template <class Duration>
pants::Task<> nap(pants::Engine& engine, Duration d, std::vector<pants::Result<void>>& results) {
    results.push_back(co_await engine.sleep(d));
}

template <class Duration>
pants::Task<> read_with_timeout(pants::Engine& engine, Duration limit, int fd, char* buf, pants::Result<int>& r,
                                bool& ended) {
    r = co_await pants::with_timeout(engine, limit, read_pipe(engine, fd, buf));
    ended = true;
}

}  // namespace

TEST_CASE("a sleep whose duration overflows the clock does not end and can be cancelled") {
    std::vector<pants::Result<void>> results;
    {
        pants::Engine engine;
        engine.spawn(nap(engine, std::chrono::nanoseconds::max(), results));
        engine.spawn(nap(engine, std::chrono::hours::max(), results));
        engine.spawn(nap(engine, std::chrono::seconds::max(), results));
        for (int i = 0; i < 5; ++i) engine.poll(0ms);
        CHECK(results.empty());
        CHECK(engine.detached_tasks() == 3);
    }  // the engine cancels its detached tasks
    REQUIRE(results.size() == 3);
    for (auto& r : results) CHECK(r.error() == std::errc::operation_canceled);
}

TEST_CASE("a timeout whose limit overflows the clock does not cut the operation short") {
    pants::Engine engine;
    Pipe pipe;
    char buf[1] = {0};
    pants::Result<int> r[2] = {pants::fail(EINVAL), pants::fail(EINVAL)};
    bool ended[2] = {false, false};
    engine.spawn(read_with_timeout(engine, std::chrono::nanoseconds::max(), pipe.fds[0], buf, r[0], ended[0]));
    engine.spawn(read_with_timeout(engine, std::chrono::hours::max(), pipe.fds[0], buf, r[1], ended[1]));
    for (int i = 0; i < 5; ++i) engine.poll(0ms);
    CHECK_FALSE(ended[0]);
    CHECK_FALSE(ended[1]);
    REQUIRE(::write(pipe.fds[1], "xy", 2) == 2);
    CHECK(engine.run_until([&] { return ended[0] && ended[1]; }, 5s));
    for (auto& one : r) {
        REQUIRE(one.has_value());
        CHECK(*one == 1);
    }
}
