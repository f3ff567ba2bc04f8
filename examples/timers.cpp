// examples/timers.cpp: Pants timers and coroutines in one small program.
//
// Shows the four timers (callback, loop, defer, cycle) with extra arguments
// forwarded to the function, cancelling a timer, and a coroutine that
// sleeps, runs two tasks at once with when_all and gives up on a slow one
// with with_timeout. It stops its engine by itself after half a second.
//
// Run it:         ./run.sh                  (builds, then runs this)
// or directly:    build-release/examples/timers
// other backend:  PANTS_BACKEND=epoll build-release/examples/timers
#include <pants/pants.hpp>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

static const auto started = pants::Engine::now();

// Prints a line prefixed with the milliseconds since the program started.
[[gnu::format(printf, 1, 2)]] static void say(const char* format, ...) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(pants::Engine::now() - started).count();
    std::printf("%4lld ms  ", static_cast<long long>(ms));
    va_list args;
    va_start(args, format);
    std::vprintf(format, args);
    va_end(args);
    std::printf("\n");
}

// A coroutine returning a value: sleeps, then squares x.
static pants::Task<int> slow_square(pants::Engine& engine, int x, std::chrono::milliseconds delay) {
    co_await engine.sleep(delay);
    co_return x * x;
}

// A coroutine that awaits others. It takes the engine by reference and its
// arguments by value: a coroutine's parameters live in its frame, unlike the
// captures of a coroutine lambda.
static pants::Task<void> conversation(pants::Engine& engine) {
    say("task: started, sleeping 100 ms");
    co_await engine.sleep(100ms);

    auto [a, b] = co_await pants::when_all(slow_square(engine, 3, 50ms), slow_square(engine, 4, 80ms));
    say("task: when_all gave %d and %d", a, b);

    pants::Result<int> r = co_await pants::with_timeout(engine, 50ms, slow_square(engine, 5, 10s));
    if (!r) say("task: with_timeout gave up: %s", r.error().message().c_str());
}

static void heartbeat(const std::string& name) { say("cycle: %s", name.c_str()); }

int main() {
    pants::Engine& engine = pants::Engine::instance();
    say("backend: %s", std::string(engine.backend_name()).c_str());

    engine.callback([] { say("callback: runs once, on the next turn"); });

    // Extra arguments are stored with the timer and passed to the function.
    engine.defer(200ms, [](const char* what, int n) { say("defer: %s %d", what, n); }, "answer", 42);
    pants::Timer beat = engine.cycle(150ms, heartbeat, std::string("heartbeat"));

    pants::Timer never = engine.defer(300ms, [] { say("this never prints"); });
    never.cancel();
    never.cancel();  // cancelling twice (or after firing) is fine

    // A loop runs on every turn and keeps the engine from sleeping, so it
    // cancels itself once its work is done.
    long turns = 0;
    pants::Timer counter;
    counter = engine.loop([&] {
        if (++turns == 1000) {
            say("loop: ran %ld turns, cancelling itself", turns);
            counter.cancel();
        }
    });

    engine.spawn(conversation(engine));

    engine.defer(500ms, [&] {
        beat.cancel();
        say("defer: stopping the engine");
        engine.stop();
    });
    engine.start();
    return 0;
}
