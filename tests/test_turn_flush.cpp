// The engine's per-turn flush list (Engine::queue_flush / cancel_flush):
// an intrusive FIFO that channels join once per turn they write in, and
// leave when they close. Issue 14 made it intrusive; these pin its order
// and its unlinking from any position, also while the list runs.
#include <doctest/doctest.h>

#include <pants/engine.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct Recorder final : pants::detail::TurnFlush {
    Recorder(std::string& log, char name) : log(log), name(name) {}
    ~Recorder() = default;
    void flush() override {
        log += name;
        if (then) then();
    }
    // Never attached to the engine: it never hears of its end.
    void engine_stopping() noexcept override {}
    void engine_gone() noexcept override {}
    std::string& log;
    char name;
    std::function<void()> then;
};

// One turn that does not wait: the flushes run at its start.
void turn(pants::Engine& engine) { engine.poll(0ms); }

}  // namespace

TEST_CASE("queued flushes run once each, in the order they were queued") {
    pants::Engine engine;
    std::string log;
    Recorder a(log, 'a'), b(log, 'b'), c(log, 'c');
    engine.queue_flush(b);
    engine.queue_flush(a);
    engine.queue_flush(b);  // already queued: once
    engine.queue_flush(c);
    turn(engine);
    CHECK(log == "bac");
    turn(engine);
    CHECK(log == "bac");  // nothing queued any more
    engine.queue_flush(a);
    turn(engine);
    CHECK(log == "baca");
}

TEST_CASE("a cancelled flush leaves the list from the front, middle or back") {
    pants::Engine engine;
    std::string log;
    Recorder a(log, 'a'), b(log, 'b'), c(log, 'c'), d(log, 'd');
    for (auto* r : {&a, &b, &c, &d}) engine.queue_flush(*r);
    engine.cancel_flush(b);  // middle
    engine.cancel_flush(a);  // front
    engine.cancel_flush(d);  // back: c is the tail now
    engine.cancel_flush(d);  // twice: nothing
    engine.queue_flush(a);   // joins behind c
    turn(engine);
    CHECK(log == "ca");
    // The only one, cancelled: the list is empty, and a new one works.
    engine.queue_flush(b);
    engine.cancel_flush(b);
    turn(engine);
    CHECK(log == "ca");
    engine.queue_flush(d);
    turn(engine);
    CHECK(log == "cad");
}

TEST_CASE("a flush may cancel one that has not run yet, or queue one for the next turn") {
    pants::Engine engine;
    std::string log;
    Recorder a(log, 'a'), b(log, 'b'), c(log, 'c');
    a.then = [&] {
        engine.cancel_flush(b);  // still waiting in this turn's list
        engine.queue_flush(a);   // itself again: next turn
    };
    for (auto* r : {&a, &b, &c}) engine.queue_flush(*r);
    turn(engine);
    CHECK(log == "ac");
    a.then = nullptr;
    turn(engine);
    CHECK(log == "aca");
}
