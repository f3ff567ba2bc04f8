// Signals through the loop (issue 12): engine.on_signal() and
// co_await engine.signal(), on both backends.
//
// The signals used are blocked in the main thread before any other thread
// exists (as a program using on_signal must do, see engine.hpp), so that a
// signal sent to the process with kill() waits for the engine's signalfd
// instead of reaching another thread.
#include "net_helpers.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

using namespace test;
using pants::Engine;

namespace {

const bool blocked_early = [] {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGUSR1, SIGUSR2, SIGHUP}) sigaddset(&set, s);
    return pthread_sigmask(SIG_BLOCK, &set, nullptr) == 0;
}();

// Turns the loop a few times, so that a callback that would run twice has
// had its chance to.
void settle(Engine& engine) {
    for (int i = 0; i < 5; ++i) engine.poll(std::chrono::milliseconds(1));
}

}  // namespace

TEST_CASE("on_signal runs its callback once per signal raised") {
    REQUIRE(blocked_early);
    Engine engine;
    int calls = 0;
    int seen = 0;
    auto handle = engine.on_signal(SIGUSR1, [&](int signo) {
        ++calls;
        seen = signo;
    });
    REQUIRE(::raise(SIGUSR1) == 0);
    run_until(engine, [&] { return calls == 1; });
    settle(engine);
    CHECK(calls == 1);
    CHECK(seen == SIGUSR1);
    REQUIRE(::raise(SIGUSR1) == 0);
    run_until(engine, [&] { return calls == 2; });
    settle(engine);
    CHECK(calls == 2);
    handle.cancel();
}

TEST_CASE("a signal sent to the process with kill reaches on_signal") {
    Engine engine;
    int calls = 0;
    auto handle = engine.on_signal(SIGUSR2, [&] { ++calls; });
    REQUIRE(::kill(::getpid(), SIGUSR2) == 0);
    run_until(engine, [&] { return calls == 1; });
    settle(engine);
    CHECK(calls == 1);
    handle.cancel();
}

TEST_CASE("a cancelled on_signal handler no longer runs, the others do") {
    Engine engine;
    int kept = 0, cancelled = 0;
    auto keep = engine.on_signal(SIGUSR1, [&] { ++kept; });
    auto drop = engine.on_signal(SIGUSR1, [&] { ++cancelled; });
    drop.cancel();
    CHECK_FALSE(drop.active());
    CHECK(keep.active());
    REQUIRE(::raise(SIGUSR1) == 0);
    run_until(engine, [&] { return kept == 1; });
    settle(engine);
    CHECK(kept == 1);
    CHECK(cancelled == 0);
    keep.cancel();
}

TEST_CASE("a handler may cancel itself from inside its callback") {
    Engine engine;
    int calls = 0;
    pants::Timer self;
    self = engine.on_signal(SIGUSR1, [&] {
        ++calls;
        self.cancel();
    });
    int other = 0;
    auto keep = engine.on_signal(SIGUSR1, [&] { ++other; });
    REQUIRE(::raise(SIGUSR1) == 0);
    run_until(engine, [&] { return other == 1; });
    REQUIRE(::raise(SIGUSR1) == 0);
    run_until(engine, [&] { return other == 2; });
    CHECK(calls == 1);
    keep.cancel();
}

TEST_CASE("a signal callback that throws goes to the error handler and the next signal still arrives") {
    Engine engine;
    int errors = 0;
    engine.set_error_handler([&](std::exception_ptr) { ++errors; });
    int calls = 0;
    auto handle = engine.on_signal(SIGHUP, [&] {
        ++calls;
        throw std::runtime_error("boom");
    });
    REQUIRE(::raise(SIGHUP) == 0);
    run_until(engine, [&] { return calls == 1; });
    REQUIRE(::raise(SIGHUP) == 0);
    run_until(engine, [&] { return calls == 2; });
    CHECK(errors == 2);
    handle.cancel();
}

TEST_CASE("co_await engine.signal resumes with the signal that arrived") {
    Engine engine;
    bool waiting = false;
    auto wait = [&]() -> pants::Task<int> {
        waiting = true;
        auto r = co_await engine.signal(SIGUSR1, SIGUSR2);
        co_return r ? *r : -1;
    };
    auto raise_later = [&]() -> pants::Task<void> {
        co_await engine.sleep(std::chrono::milliseconds(1));
        REQUIRE(waiting);
        ::raise(SIGUSR2);
    };
    auto both = [&]() -> pants::Task<int> {
        auto [got, none] = co_await pants::when_all(wait(), raise_later());
        (void)none;
        co_return got;
    };
    CHECK(engine.run(both()) == SIGUSR2);
}

TEST_CASE("co_await engine.signal gives operation_canceled when cancelled, and drops its handlers") {
    Engine engine;
    std::error_code error;
    auto wait = [&]() -> pants::Task<int> {
        auto r = co_await engine.signal(SIGUSR1);
        if (!r) error = r.error();
        co_return 0;
    };
    auto quick = [&]() -> pants::Task<int> {
        co_await engine.sleep(std::chrono::milliseconds(2));
        co_return 1;
    };
    auto race = [&]() -> pants::Task<std::size_t> {
        auto [index, value] = co_await pants::when_any(wait(), quick());
        (void)value;
        co_return index;
    };
    CHECK(engine.run(race()) == 1);
    CHECK(error == std::errc::operation_canceled);
    // A signal now finds no handler of the cancelled awaiter.
    int later = 0;
    auto handle = engine.on_signal(SIGUSR1, [&] { ++later; });
    REQUIRE(::raise(SIGUSR1) == 0);
    run_until(engine, [&] { return later == 1; });
    settle(engine);
    CHECK(later == 1);
    handle.cancel();
}

TEST_CASE("an engine destroyed while watching signals leaks nothing") {
    const int fds = count_fds();
    {
        Engine engine;
        auto handle = engine.on_signal(SIGUSR1, [] {});
        engine.poll(std::chrono::milliseconds(0));
        CHECK(count_fds() > fds);
    }
    CHECK(count_fds() == fds);
}
