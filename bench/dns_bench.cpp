// dns_bench: DNS queries per second and CPU per query through
// pants::dns::Resolver against a DNS server, on io_uring and then on epoll,
// in one run; bench/dns.sh starts the dnsmasq it talks to and runs it
// (with the c-ares client of bench/peers/ beside it).
//
//   build-release/bench/dns_bench FRONT UPSTREAM [NAMES [WINDOW [ZONE [BIG [ARES_COLD ARES_WARM]]]]]
//
// FRONT is a caching forwarder's port, UPSTREAM a server that answers any
// name of ZONE (default "bench.test") from its configuration, without a
// cache. Each backend asks for A records of names of its own, WINDOW
// queries in flight (default 32), through Resolver::query:
//   cold    NAMES (default 2000) names new to FRONT (it must ask
//           UPSTREAM), a Resolver with Options::cache false;
//   warm    the same names again (FRONT answers from its cache), still
//           without our cache: the cost of one uncached query;
//   cached  the same names through a Resolver with its cache on, once to
//           fill it (not measured), then again: answered from our cache;
//   fill    NAMES new names asked of UPSTREAM with our cache on: every
//           answer is stored (past the cache's capacity, each store evicts);
//   fill-big  the same with BIG names (default 100000): how the cache's
//           cost grows with the number of names it has seen.
// DNS_BENCH_CACHED_ROUNDS=R in the environment asks the cached workload R
// times (default 1; the last is reported): bench/dns_cost.sh's cost of a
// cache hit is the difference of two runs that differ only in R.
// CPU is user + system time of this process (getrusage) per query. Every
// answer must be DNS_OK with one record; the run fails otherwise.
// ARES_COLD / ARES_WARM ("<q/s> <CPU µs>", from bench/peers/ares_client)
// add c-ares columns to the cold and warm rows.
#include <pants/dns/resolver.hpp>
#include <pants/engine.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
namespace dns = pants::dns;

struct Phase {
    double per_second = 0;
    double cpu_us = 0;  // per query
};

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Asks for every name once, `window` at a time.
Phase ask_all(pants::Engine& engine, dns::Resolver& resolver, const std::vector<std::string>& names, int window,
              const char* label) {
    std::size_t sent = 0, done = 0;
    int failed = 0;
    std::function<void()> send_next = [&] {
        resolver.query(names[sent++], dns::A,
                       [&](dns::Status status, std::string, std::uint32_t, std::vector<dns::Rdata> rdata) {
                           ++done;
                           if (status != dns::DNS_OK || rdata.size() != 1) ++failed;
                           if (sent < names.size()) send_next();
                       });
    };
    const auto t0 = Clock::now();
    const double cpu0 = cpu_seconds();
    for (int i = 0; i < window && sent < names.size(); ++i) send_next();
    if (!engine.run_until([&] { return done == names.size(); }, std::chrono::seconds(300))) {
        std::fprintf(stderr, "dns_bench: %s: %zu of %zu answers after 300 s\n", label, done, names.size());
        std::exit(1);
    }
    const double cpu = cpu_seconds() - cpu0;
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (failed) {
        std::fprintf(stderr, "dns_bench: %s: %d bad answers\n", label, failed);
        std::exit(1);
    }
    return Phase{double(names.size()) / seconds, cpu * 1e6 / double(names.size())};
}

std::vector<std::string> names_of(const std::string& prefix, int count, const std::string& zone) {
    std::vector<std::string> names;
    names.reserve(std::size_t(count));
    for (int i = 0; i < count; ++i) names.push_back("q" + std::to_string(i) + "." + prefix + "." + zone + ".");
    return names;
}

dns::Resolver::Options options(std::uint16_t port, bool cache) {
    dns::Resolver::Options o;
    o.servers = {pants::Address::loopback_v4(port)};
    o.resolv_conf_path.clear();
    o.hosts_path.clear();
    o.cache = cache;
    return o;
}

struct Run {
    Phase cold, warm, cached, fill, fill_big;
};

Run run(pants::BackendKind kind, const char* label, std::uint16_t front, std::uint16_t upstream, int count, int big,
        int window, const std::string& zone, int cached_rounds) {
    pants::Engine::Options engine_options;
    engine_options.backend = kind;
    pants::Engine engine(engine_options);
    Run r;
    const auto names = names_of(label, count, zone);
    {
        dns::Resolver resolver(options(front, false), engine);
        r.cold = ask_all(engine, resolver, names, window, "cold");
        r.warm = ask_all(engine, resolver, names, window, "warm");
    }
    {
        dns::Resolver resolver(options(front, true), engine);
        ask_all(engine, resolver, names, window, "cache fill");
        for (int i = 0; i < cached_rounds; ++i) r.cached = ask_all(engine, resolver, names, window, "cached");
    }
    {
        dns::Resolver resolver(options(upstream, true), engine);
        r.fill = ask_all(engine, resolver, names_of(std::string("fill.") + label, count, zone), window, "fill");
    }
    {
        dns::Resolver resolver(options(upstream, true), engine);
        r.fill_big = ask_all(engine, resolver, names_of(std::string("big.") + label, big, zone), window, "fill-big");
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: dns_bench FRONT UPSTREAM [NAMES [WINDOW [ZONE [BIG [ARES_COLD ARES_WARM]]]]]\n");
        return 1;
    }
    const auto front = static_cast<std::uint16_t>(std::atoi(argv[1]));
    const auto upstream = static_cast<std::uint16_t>(std::atoi(argv[2]));
    const int count = argc > 3 ? std::atoi(argv[3]) : 2000;
    const int window = argc > 4 ? std::atoi(argv[4]) : 32;
    const std::string zone = argc > 5 ? argv[5] : "bench.test";
    const int big = argc > 6 ? std::atoi(argv[6]) : 100000;
    Phase ares_cold, ares_warm;
    const bool ares = argc > 8;
    if (ares) {
        std::sscanf(argv[7], "%lf %lf", &ares_cold.per_second, &ares_cold.cpu_us);
        std::sscanf(argv[8], "%lf %lf", &ares_warm.per_second, &ares_warm.cpu_us);
    }

    const char* rounds = std::getenv("DNS_BENCH_CACHED_ROUNDS");
    const int cached_rounds = rounds ? std::max(1, std::atoi(rounds)) : 1;
    const Run u = run(pants::BackendKind::io_uring, "uring", front, upstream, count, big, window, zone, cached_rounds);
    const Run e = run(pants::BackendKind::epoll, "epoll", front, upstream, count, big, window, zone, cached_rounds);
    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };

    std::printf("DNS A queries through Resolver::query, %d names (fill-big: %d), %d in flight\n", count, big, window);
    std::printf("%-9s %10s %8s %10s %8s %7s", "workload", "uring q/s", "uring us", "epoll q/s", "epoll us", "u/e q/s");
    if (ares) std::printf(" %10s %8s %7s %7s", "c-ares q/s", "c-ares us", "us u/c", "us e/c");
    std::printf("\n");
    auto row = [&](const char* name, const Phase& pu, const Phase& pe, const Phase* pa) {
        std::printf("%-9s %10.0f %8.2f %10.0f %8.2f %7.2f", name, pu.per_second, pu.cpu_us, pe.per_second, pe.cpu_us,
                    ratio(pu.per_second, pe.per_second));
        if (pa) std::printf(" %10.0f %8.2f %7.2f %7.2f", pa->per_second, pa->cpu_us, ratio(pu.cpu_us, pa->cpu_us),
                            ratio(pe.cpu_us, pa->cpu_us));
        std::printf("\n");
    };
    row("cold", u.cold, e.cold, ares ? &ares_cold : nullptr);
    row("warm", u.warm, e.warm, ares ? &ares_warm : nullptr);
    row("cached", u.cached, e.cached, nullptr);
    row("fill", u.fill, e.fill, nullptr);
    row("fill-big", u.fill_big, e.fill_big, nullptr);
    std::printf("us = CPU microseconds per query (user + system). u/e q/s = io_uring / epoll queries per second;\n"
                "us u/c, us e/c = CPU per query of io_uring, epoll over c-ares' (at most 1: as cheap as c-ares).\n"
                "fill-big / fill q/s: io_uring %.2f, epoll %.2f; CPU per query: io_uring %.2f, epoll %.2f\n"
                "(1: the cache's cost does not grow with its size; CPU is the steadier figure).\n",
                ratio(u.fill_big.per_second, u.fill.per_second), ratio(e.fill_big.per_second, e.fill.per_second),
                ratio(u.fill_big.cpu_us, u.fill.cpu_us), ratio(e.fill_big.cpu_us, e.fill.cpu_us));
}
