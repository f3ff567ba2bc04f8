// The Engine loop: start/stop, poll, post, errors, backend choice.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

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
    CHECK(took < 1s);
    t0 = pants::Engine::now();
    engine.poll(0ms);
    CHECK(pants::Engine::now() - t0 < 100ms);
}

TEST_CASE("poll wakes early for a timer due before its timeout") {
    pants::Engine engine;
    bool fired = false;
    engine.defer(10ms, [&] { fired = true; });
    auto t0 = pants::Engine::now();
    while (!fired) engine.poll(5s);
    CHECK(pants::Engine::now() - t0 < 2s);
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
    const char* old = std::getenv("PANTS_BACKEND");
    std::string saved = old ? old : "";
    ::setenv("PANTS_BACKEND", "auto", 1);
    ::setenv("PANTS_URING_SETUP_FAIL", "1", 1);
    char path[] = "/tmp/pants-stderr-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    std::fflush(stderr);
    int saved_err = ::dup(2);
    ::dup2(fd, 2);
    std::string name;
    {
        pants::Engine a;
        pants::Engine b;  // says so once only
        name = std::string(a.backend_name()) + "," + std::string(b.backend_name());
    }
    std::fflush(stderr);
    ::dup2(saved_err, 2);
    ::close(saved_err);
    ::close(fd);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    ::unlink(path);
    ::unsetenv("PANTS_URING_SETUP_FAIL");
    ::setenv("PANTS_BACKEND", saved.c_str(), 1);
    CHECK(name == "epoll,epoll");
    std::string out = text.str();
    int lines = int(std::count(out.begin(), out.end(), '\n'));
    // One line, unless an earlier test already fell back in this process.
    CHECK(lines <= 1);
    if (lines == 1) CHECK(out.find("using epoll") != std::string::npos);
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
