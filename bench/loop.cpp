// bench/loop.cpp: what the event loop itself costs, io_uring against epoll.
//
// Measures, for each backend in the same run:
//   idle turn        engine.poll(0) with nothing to do
//   timer fired      a chain of defer(0) callbacks, each arming the next
//   post round trip  another thread posts, waits until it ran, posts again
//                    (includes waking the blocked engine each time)
//   post throughput  another thread posts as fast as it can
// and prints nanoseconds per operation and the io_uring/epoll ratio (below 1
// means io_uring is faster). Each measurement runs for about 250 ms.
//
// Run:  build-release/bench/loop        (./run.sh builds it)
#include <pants/pants.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <thread>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto budget = 250ms;  // per measurement and backend

/// Nanoseconds per operation of `ops` operations done in `elapsed`.
double per_op(Clock::duration elapsed, long ops) {
    return double(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) / double(ops);
}

double idle_turn(pants::Engine& engine) {
    long ops = 0;
    const auto start = Clock::now();
    auto now = start;
    for (; now - start < budget; now = Clock::now())
        for (int i = 0; i < 1024; ++i, ++ops) engine.poll(0ns);
    return per_op(now - start, ops);
}

/// Each firing arms the next, so exactly one timer is pending at a time.
struct TimerChain {
    pants::Engine& engine;
    Clock::time_point end;
    long fired = 0;
    void operator()() {
        if (++fired % 1024 == 0 && Clock::now() >= end) {
            engine.stop();
            return;
        }
        engine.defer(0ns, std::ref(*this));
    }
};

double timer_fired(pants::Engine& engine) {
    const auto start = Clock::now();
    TimerChain chain{engine, start + budget};
    engine.defer(0ns, std::ref(chain));
    engine.start();
    return per_op(Clock::now() - start, chain.fired);
}

double post_round_trip(pants::Engine& engine) {
    std::atomic<bool> ran{false};
    long ops = 0;
    Clock::time_point start, end;
    std::thread poster([&] {
        start = Clock::now();
        auto now = start;
        for (; now - start < budget; now = Clock::now()) {
            for (int i = 0; i < 64; ++i, ++ops) {
                ran.store(false, std::memory_order_relaxed);
                engine.post([&ran] { ran.store(true, std::memory_order_release); });
                while (!ran.load(std::memory_order_acquire)) std::this_thread::yield();
            }
        }
        end = now;
        engine.post([&engine] { engine.stop(); });
    });
    engine.start();
    poster.join();
    return per_op(end - start, ops);
}

double post_throughput(pants::Engine& engine) {
    long ran = 0;
    long posted = 0;
    const auto start = Clock::now();
    std::thread poster([&] {
        while (Clock::now() - start < budget) {
            for (int i = 0; i < 1024; ++i, ++posted) engine.post([&ran] { ++ran; });
        }
        engine.post([&engine] { engine.stop(); });  // runs after every earlier post
    });
    engine.start();
    poster.join();
    return per_op(Clock::now() - start, ran);
}

struct Row {
    const char* name;
    double (*measure)(pants::Engine&);
    std::optional<double> ns[2];
};

}  // namespace

int main() {
    Row rows[] = {
        {"idle turn (poll 0)", idle_turn, {}},
        {"timer fired (defer 0)", timer_fired, {}},
        {"post round trip", post_round_trip, {}},
        {"post throughput", post_throughput, {}},
    };
    const pants::BackendKind kinds[2] = {pants::BackendKind::io_uring, pants::BackendKind::epoll};

    for (int b = 0; b < 2; ++b) {
        try {
            pants::Engine engine(pants::Engine::Options{.backend = kinds[b]});
            engine.poll(0ns);  // warm up: first turn sets things up
            for (auto& row : rows) row.ns[b] = row.measure(engine);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s: %s\n", b == 0 ? "io_uring" : "epoll", e.what());
        }
    }

    std::printf("%-24s %12s %12s %16s\n", "ns per operation", "io_uring", "epoll", "io_uring/epoll");
    for (const auto& row : rows) {
        std::printf("%-24s", row.name);
        for (const auto& ns : row.ns) {
            if (ns)
                std::printf(" %12.1f", *ns);
            else
                std::printf(" %12s", "n/a");
        }
        if (row.ns[0] && row.ns[1])
            std::printf(" %16.2f", *row.ns[0] / *row.ns[1]);
        std::printf("\n");
    }
    return 0;
}
