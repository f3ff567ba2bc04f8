// Randomized lifecycle stress test (issue 8): many channels at once on one
// Engine, driven by a seeded random list of actions, then checked against
// the lifecycle invariants.
//
// Each run makes a fresh Engine with a handful of channels of every kind:
//   cb_conn       a Server<C> connection (callbacks), peer = raw client socket
//   cb_client     a Client (callbacks), peer = raw accepted socket
//   coro_handler  a stream handed to a Server(handler) coroutine
//   coro_connect  a Stream connected with co_await connect()
//   coro_accepted a stream taken with co_await accept() on a Server<>
//   datagram      a Datagram, peer = raw UDP socket
// and applies random actions, one function per action (see kActions). At the
// end every channel is ended, the peers read to the end, everything is
// destroyed, and the invariants are checked:
//   - on_close exactly once per channel we can observe and did not destroy;
//   - what a peer got is a prefix of what the channel queued, and all of it
//     when the channel was ended (not closed, reset, failed or destroyed
//     before end()); what the channel got is in order (streams: a prefix of
//     what the peer sent; datagrams: a subsequence);
//   - no error lost: bytes queued before end() that never reached a peer
//     which read to its end must have been reported by an error callback
//     or an error result;
//   - every coroutine finished, no operation in flight, every receive
//     buffer back with the backend, no timer left, no descriptor leaked.
//
// Environment:
//   PANTS_STRESS_SEED=N[,M..] replay these runs (a failure prints its action list)
//   PANTS_STRESS_SECONDS=S    time budget for random runs (default 20)
//   PANTS_STRESS_ACTIONS=...  comma list; "all" (default), names to enable,
//                             "-name" to disable. Names: see kActions, plus
//                             the checks "close_address", "accept_turn" and
//                             "linger" (below).
//   PANTS_STRESS_VERBOSE=1    print every action as it runs
// Runs are reproducible in their actions, not in the kernel's timing: a
// replayed seed applies the same actions, and usually fails the same way.
#include "stress/world.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>

using namespace stress;

TEST_CASE("randomized channel lifecycles keep every invariant") {
    const Config config = Config::from_env();
    install_crash_report();
    std::vector<std::uint64_t> fixed;
    if (const char* s = std::getenv("PANTS_STRESS_SEED")) {  // one seed, or several: "1,2,3"
        std::stringstream in(s);
        std::string item;
        while (std::getline(in, item, ','))
            if (!item.empty()) fixed.push_back(std::strtoull(item.c_str(), nullptr, 10));
    }
    double seconds = 20;
    if (const char* s = std::getenv("PANTS_STRESS_SECONDS")) seconds = std::atof(s);
    std::uint64_t base = std::random_device{}();
    base = (base << 20) ^ std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count() & 0xfffff);

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    std::size_t runs = 0, actions_total = 0, failed = 0;
    for (std::uint64_t i = 0;; ++i) {
        std::uint64_t seed;
        if (!fixed.empty()) {
            if (i == fixed.size()) break;
            seed = fixed[i];
        } else {
            if (std::chrono::steady_clock::now() >= deadline) break;
            seed = (base + i) % 1'000'000'000'000ull;
        }
        std::vector<std::string> log;
        std::size_t n = 0;
        auto failures = run_once(seed, config, log, n);
        ++runs;
        actions_total += n;
        if (!failures.empty()) {
            ++failed;
            report(seed, failures, log);
            if (failed >= 3) break;  // enough to diagnose; keep the output readable
        }
    }
    std::fprintf(stderr, "stress_lifecycle: %zu runs, %zu actions, %zu failed\n", runs, actions_total, failed);
    CHECK(failed == 0);
}
