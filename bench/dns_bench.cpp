// dns_bench: DNS queries per second through pants::dns::Resolver against a
// DNS server, on io_uring and then on epoll, in one run; bench/dns.sh
// starts the dnsmasq it talks to and runs it.
//
//   build-release/bench/dns_bench PORT [NAMES [WINDOW [ZONE]]]
//
// Asks 127.0.0.1:PORT for A records of NAMES distinct names
// "q<i>.<backend>.<ZONE>" (default 2000 names, zone "bench.test"),
// keeping WINDOW queries in flight (default 32), twice per backend:
//   cold  the first time the server sees each name (a caching forwarder
//         must ask its upstream),
//   warm  the same names again (the forwarder answers from its cache).
// Queries go through Resolver::send_message, which never consults the
// Resolver's own cache: every query is a network round trip, so "warm"
// measures the server's cache, not ours. Each backend gets its own names,
// so both see a cold server. Every reply must be NOERROR with one answer;
// the run fails otherwise.
#include <pants/dns/message.hpp>
#include <pants/dns/resolver.hpp>
#include <pants/engine.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
namespace dns = pants::dns;

struct Phase {
    double per_second = 0;
    int failed = 0;
};

// Sends one query per name, `window` at a time; returns queries per second.
Phase ask_all(pants::Engine& engine, dns::Resolver& resolver, const std::vector<std::string>& names, int window) {
    std::mt19937 random(std::random_device{}());
    std::size_t sent = 0, done = 0;
    Phase phase;
    std::function<void()> send_next = [&] {
        auto query = dns::encode_query(static_cast<std::uint16_t>(random()), names[sent++], dns::A);
        if (!query) std::abort();
        resolver.send_message(std::move(*query), [&](dns::Status status, pants::Result<dns::Message> reply) {
            ++done;
            if (status != dns::DNS_OK || !reply || reply->answers.size() != 1) ++phase.failed;
            if (sent < names.size()) send_next();
        });
    };
    const auto t0 = Clock::now();
    for (int i = 0; i < window && sent < names.size(); ++i) send_next();
    if (!engine.run_until([&] { return done == names.size(); }, std::chrono::seconds(120))) {
        std::fprintf(stderr, "dns_bench: %zu of %zu replies after 120 s\n", done, names.size());
        std::exit(1);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    phase.per_second = static_cast<double>(names.size()) / seconds;
    return phase;
}

struct Run {
    Phase cold, warm;
};

Run run(pants::BackendKind kind, const char* label, std::uint16_t port, int count, int window,
        const std::string& zone) {
    pants::Engine::Options options;
    options.backend = kind;
    pants::Engine engine(options);
    dns::Resolver resolver(std::vector<pants::Address>{pants::Address::loopback_v4(port)}, engine);
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) names.push_back("q" + std::to_string(i) + "." + label + "." + zone);
    Run r;
    r.cold = ask_all(engine, resolver, names, window);
    r.warm = ask_all(engine, resolver, names, window);
    if (r.cold.failed + r.warm.failed > 0) {
        std::fprintf(stderr, "dns_bench: %s: %d bad replies\n", label, r.cold.failed + r.warm.failed);
        std::exit(1);
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: dns_bench PORT [NAMES [WINDOW [ZONE]]]\n");
        return 1;
    }
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    const int count = argc > 2 ? std::atoi(argv[2]) : 2000;
    const int window = argc > 3 ? std::atoi(argv[3]) : 32;
    const std::string zone = argc > 4 ? argv[4] : "bench.test";

    std::printf("DNS A queries via Resolver::send_message (no resolver cache), %d names, %d in flight\n", count,
                window);
    const Run u = run(pants::BackendKind::io_uring, "uring", port, count, window, zone);
    const Run e = run(pants::BackendKind::epoll, "epoll", port, count, window, zone);
    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    std::printf("%-6s %14s %14s %8s\n", "cache", "io_uring q/s", "epoll q/s", "ratio");
    std::printf("%-6s %14.0f %14.0f %8.2f\n", "cold", u.cold.per_second, e.cold.per_second,
                ratio(u.cold.per_second, e.cold.per_second));
    std::printf("%-6s %14.0f %14.0f %8.2f\n", "warm", u.warm.per_second, e.warm.per_second,
                ratio(u.warm.per_second, e.warm.per_second));
    std::printf("(ratio = io_uring / epoll; above 1: io_uring is faster)\n");
}
