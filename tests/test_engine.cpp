// The Engine loop: start/stop, poll, post, errors, backend choice.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>
#include <sys/socket.h>
#include <unistd.h>

#include "watchdog.hpp"

using namespace std::chrono_literals;

TEST_CASE("the global engine is one object and runs on the selected backend") {
    pants::Engine& a = pants::Engine::instance();
    pants::Engine& b = pants::Engine::instance();
    CHECK(&a == &b);
    const char* env = std::getenv("PANTS_BACKEND");
    if (env) CHECK(a.backend_name() == std::string_view(env));
}

TEST_CASE("start runs until stop is called from a callback") {
    pants::Engine engine;
    int turns = 0;
    engine.loop([&] { ++turns; });
    engine.defer(5ms, [&] { engine.stop(); });
    engine.start();
    CHECK_FALSE(engine.running());
    CHECK(turns > 0);
}

TEST_CASE("the global engine starts and stops") {
    auto& engine = pants::Engine::instance();
    bool fired = false;
    engine.callback([&] {
        fired = true;
        engine.stop();
    });
    engine.start();
    CHECK(fired);
}

TEST_CASE("poll returns within its timeout when idle") {
    pants::Engine engine;
    auto t0 = pants::Engine::now();
    engine.poll(30ms);
    auto took = pants::Engine::now() - t0;
    CHECK(took >= 25ms);
    CHECK(took < 10s);  // a bound for a loaded 2-core ASan run, not a measurement
}

TEST_CASE("poll(0) returns before a pending timer is due") {
    // Ordering, not timing: poll(0) must not wait for the nearest timer.
    pants::Engine engine;
    bool fired = false;
    engine.defer(10s, [&] { fired = true; });
    engine.poll(0ms);
    CHECK_FALSE(fired);
    CHECK(engine.pending_timers() == 1);
}

TEST_CASE("poll wakes early for a timer due before its timeout") {
    pants::Engine engine;
    bool fired = false;
    engine.defer(10ms, [&] { fired = true; });
    test::Watchdog dog(engine, 10s);
    while (!fired && !dog.fired()) engine.poll(1h);
    CHECK(fired);
    CHECK_FALSE(dog.fired());  // the timer, not the watchdog, ended the wait
}

TEST_CASE("a throwing callback goes to the error handler and the loop goes on") {
    pants::Engine engine;
    std::vector<std::string> errors;
    engine.set_error_handler([&](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            errors.push_back(ex.what());
        }
    });
    int after = 0;
    engine.callback([] { throw std::runtime_error("boom"); });
    engine.callback([&] { ++after; });
    engine.defer(1ms, [] { throw std::runtime_error("late"); });
    engine.defer(2ms, [&] { ++after; });
    CHECK(engine.run_until([&] { return after == 2; }, 5s));
    // Both reach the handler. Their order is not promised: on a loaded
    // machine the 1 ms timer may be due in the first turn, whose timers
    // run before its callbacks.
    std::sort(errors.begin(), errors.end());
    CHECK(errors == std::vector<std::string>{"boom", "late"});
}

TEST_CASE("post from another thread wakes a blocked engine") {
    pants::Engine engine;
    std::atomic<int> got{0};
    std::thread other([&] {
        for (int i = 0; i < 100; ++i) engine.post([&] { ++got; });
    });
    auto t0 = pants::Engine::now();
    while (got < 100) engine.poll(10s);  // would block 10 s without the wake
    other.join();
    CHECK(got == 100);
    CHECK(pants::Engine::now() - t0 < 5s);
}

TEST_CASE("stop from another thread ends start") {
    pants::Engine engine;
    std::thread other([&] {
        while (!engine.running()) std::this_thread::yield();
        engine.stop();
    });
    engine.start();
    other.join();
    CHECK_FALSE(engine.running());
}

TEST_CASE("auto falls back to epoll with one line on stderr when io_uring cannot be set up") {
    // In a fresh process (tests/backend_probe.cpp), so that no earlier
    // fallback in this one has used up the once-only message.
    auto probe = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "backend_probe";
    REQUIRE_MESSAGE(std::filesystem::exists(probe), probe.string() << " is not built");
    std::string command = "PANTS_BACKEND=auto PANTS_URING_SETUP_FAIL=1 '" + probe.string() + "' 2>&1";
    FILE* out = ::popen(command.c_str(), "r");
    REQUIRE(out);
    std::string text;
    char buf[256];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, out)) text.append(buf, n);
    CHECK(::pclose(out) == 0);
    // stderr is unbuffered, stdout is flushed at exit: the message comes first.
    auto newline = text.find('\n');
    REQUIRE(newline != std::string::npos);
    std::string said = text.substr(0, newline);
    CHECK(said.find("io_uring unavailable") != std::string::npos);
    CHECK(said.find("using epoll") != std::string::npos);
    CHECK(text.substr(newline + 1) == "epoll,epoll\n");  // one line only, for two engines
}

TEST_CASE("an explicit io_uring that cannot be set up is an error") {
    ::setenv("PANTS_URING_SETUP_FAIL", "1", 1);
    pants::Engine::Options o;
    o.backend = pants::BackendKind::io_uring;
    CHECK_THROWS_AS(pants::Engine{o}, std::system_error);
    ::unsetenv("PANTS_URING_SETUP_FAIL");
}

TEST_CASE("an engine built on one thread can be run on another") {
    // io_uring binds a SINGLE_ISSUER ring to its first submitter: that must
    // be the thread that runs the loop, not the one that built the Engine.
    auto engine = std::make_unique<pants::Engine>();
    int fired = 0;
    engine->defer(std::chrono::milliseconds(1), [&] { ++fired; });
    std::thread runner([&] { engine->run_until([&] { return fired == 1; }, std::chrono::seconds(5)); });
    runner.join();
    CHECK(fired == 1);
}

TEST_CASE("an engine whose queue filled before its first turn still runs on another thread") {
    // More receives armed before the first turn than the submission queue
    // holds: the overflow must wait for that turn, not tie the ring to the
    // thread that built the engine.
    pants::Engine::Options o;
    o.ring_entries = 16;
    auto engine = std::make_unique<pants::Engine>(o);
    struct Counter : pants::Datagram {
        using pants::Datagram::Datagram;
        std::string got;
        void on_read(std::string_view data, const pants::Address&) override { got.append(data); }
    };
    constexpr int kChannels = 48;  // three times the queue
    std::vector<std::unique_ptr<Counter>> channels;
    int sender = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(sender >= 0);
    for (int i = 0; i < kChannels; ++i) {
        auto& c = *channels.emplace_back(std::make_unique<Counter>(*engine));
        REQUIRE(c.listen(pants::Address::loopback_v4(0)));
        auto at = c.local_address();
        REQUIRE(at);
        const std::string text = "dgram " + std::to_string(i);
        REQUIRE(::sendto(sender, text.data(), text.size(), 0, at->data(), at->size()) == ssize_t(text.size()));
    }
    ::close(sender);
    auto all_read = [&] {
        return std::all_of(channels.begin(), channels.end(), [](auto& c) { return !c->got.empty(); });
    };
    std::exception_ptr failed;
    std::thread runner([&] {
        try {
            engine->run_until(all_read, std::chrono::seconds(5));
            for (int i = 0; i < kChannels; ++i) CHECK(channels[i]->got == "dgram " + std::to_string(i));
            // On the engine's thread: their cancels and the engine's drain
            // go through its ring.
            channels.clear();
            engine.reset();
        } catch (...) {
            failed = std::current_exception();
        }
    });
    runner.join();
    CHECK_FALSE(failed);
}

TEST_CASE("a turn refused on a second thread leaves the engine bound to its own") {
    // io_uring: the ring belongs to the thread that ran it. A poll() here
    // fails, and must not make the ring think it belongs here: destroying
    // the engine here afterwards, with a receive in flight, must not try
    // to drain it through this thread (which would throw from ~Engine).
    auto engine = std::make_unique<pants::Engine>();
    struct Sink : pants::Datagram {
        using pants::Datagram::Datagram;
        void on_read(std::string_view, const pants::Address&) override {}
    };
    auto channel = std::make_unique<Sink>(*engine);
    REQUIRE(channel->listen(pants::Address::loopback_v4(0)));
    std::thread([&] { engine->poll(std::chrono::milliseconds(0)); }).join();
    if (engine->backend_name() == std::string_view("io_uring")) {
        try {
            engine->poll(std::chrono::milliseconds(0));
            FAIL("a turn on a second thread was taken");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EEXIST);
            CHECK(std::string(e.what()).find("second thread") != std::string::npos);
        }
    }
    channel.reset();
    engine.reset();
}

TEST_CASE("a loop() callback keeps the engine from sleeping in poll") {
    pants::Engine engine;
    int turns = 0;
    pants::Timer spin = engine.loop([&] { ++turns; });
    test::Watchdog dog(engine, 10s);
    // Each poll would wait an hour for I/O if the loop() let it sleep.
    while (turns < 100 && !dog.fired()) engine.poll(1h);
    CHECK(turns == 100);
    CHECK_FALSE(dog.fired());
}

TEST_CASE("stop() before start() makes start() return after one turn") {
    pants::Engine engine;
    bool ran = false;
    engine.callback([&] { ran = true; });
    engine.stop();
    test::Watchdog dog(engine, 10s);  // stops start() if the early stop was lost
    engine.start();
    CHECK(ran);
    CHECK_FALSE(dog.fired());
    CHECK_FALSE(engine.running());
    // The stop was used up: the next start() runs until the next stop().
    int turns = 0;
    pants::Timer counter = engine.loop([&] {
        if (++turns == 3) engine.stop();
    });
    engine.start();
    CHECK(turns == 3);
    CHECK_FALSE(dog.fired());
}
