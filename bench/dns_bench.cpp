// dns_bench: DNS queries per second and CPU per query through
// pants::dns::Resolver against a DNS server, on io_uring and on epoll, in
// one run, beside a c-ares client when one is given; bench/dns.sh starts
// the dnsmasq it talks to and runs it.
//
//   build-release/bench/dns_bench FRONT UPSTREAM [NAMES [WINDOW [ZONE [BIG [ROUNDS [ARES_CLIENT]]]]]]
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
// ROUNDS (default 1): cold, warm, cached and fill are run that many times,
// each round with names new to every server and a new Resolver, and the
// median of the rounds is reported (of each figure, and of each ratio of
// two figures of the same round). A workload of 2,000 names lasts about
// 0.1 s, near the resolution of CPU time on a busy machine: rounds make
// the figures steadier. Within a round the clients take turns (c-ares,
// io_uring, epoll, the first moving on by one each round) so that a
// change in the machine's load falls on all of them. fill-big runs once.
// ARES_CLIENT: bench/peers/ares_client, run once per round (cold and warm
// on names of its own) for the c-ares columns of the cold and warm rows.
// DNS_BENCH_CACHED_ROUNDS=R in the environment asks the cached workload R
// times (default 1; the last is reported): bench/dns_cost.sh's cost of a
// cache hit is the difference of two runs that differ only in R.
// CPU is user + system time of the process (getrusage) per query. Every
// answer must be DNS_OK with one record; the run fails otherwise.
#include "median.hpp"

#include <pants/dns/resolver.hpp>
#include <pants/engine.hpp>

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

extern char** environ;

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

struct Setup {
    std::uint16_t front, upstream;
    int count, window, cached_rounds;
    std::string zone;
};

// One round of the workloads that are repeated, on one backend.
struct Round {
    Phase cold, warm, cached, fill;
};

Round round_of(pants::Engine& engine, const char* label, int round, const Setup& s) {
    Round r;
    const std::string prefix = "r" + std::to_string(round) + "." + label;
    const auto names = names_of(prefix, s.count, s.zone);
    {
        dns::Resolver resolver(options(s.front, false), engine);
        r.cold = ask_all(engine, resolver, names, s.window, "cold");
        r.warm = ask_all(engine, resolver, names, s.window, "warm");
    }
    {
        dns::Resolver resolver(options(s.front, true), engine);
        ask_all(engine, resolver, names, s.window, "cache fill");
        for (int i = 0; i < s.cached_rounds; ++i) r.cached = ask_all(engine, resolver, names, s.window, "cached");
    }
    {
        dns::Resolver resolver(options(s.upstream, true), engine);
        r.fill = ask_all(engine, resolver, names_of(prefix + ".fill", s.count, s.zone), s.window, "fill");
    }
    return r;
}

Phase fill_big(pants::Engine& engine, const char* label, int big, const Setup& s) {
    dns::Resolver resolver(options(s.upstream, true), engine);
    return ask_all(engine, resolver, names_of(std::string("big.") + label, big, s.zone), s.window, "fill-big");
}

// One round of bench/peers/ares_client: its cold and warm passes.
struct AresRound {
    Phase cold, warm;
};

AresRound ares_round(const char* client, int round, const Setup& s) {
    const std::string port = std::to_string(s.front), count = std::to_string(s.count),
                      window = std::to_string(s.window), r = std::to_string(round);
    const char* argv[] = {client, port.c_str(), count.c_str(), window.c_str(), s.zone.c_str(), r.c_str(), nullptr};
    int out[2];
    if (::pipe(out) != 0) {
        std::perror("dns_bench: pipe");
        std::exit(1);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    pid_t pid;
    const int spawned = posix_spawn(&pid, client, &actions, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (spawned != 0) {
        std::fprintf(stderr, "dns_bench: cannot run %s\n", client);
        std::exit(1);
    }
    AresRound a;
    int lines = 0;
    FILE* f = ::fdopen(out[0], "r");
    char pass[16];
    Phase p;
    while (std::fscanf(f, "%15s %lf %lf", pass, &p.per_second, &p.cpu_us) == 3) {
        if (std::string(pass) == "cold") a.cold = p, ++lines;
        if (std::string(pass) == "warm") a.warm = p, ++lines;
    }
    std::fclose(f);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || lines != 2) {
        std::fprintf(stderr, "dns_bench: %s failed\n", client);
        std::exit(1);
    }
    return a;
}

using bench::median;

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr,
                     "usage: dns_bench FRONT UPSTREAM [NAMES [WINDOW [ZONE [BIG [ROUNDS [ARES_CLIENT]]]]]]\n");
        return 1;
    }
    Setup s;
    s.front = static_cast<std::uint16_t>(std::atoi(argv[1]));
    s.upstream = static_cast<std::uint16_t>(std::atoi(argv[2]));
    s.count = argc > 3 ? std::atoi(argv[3]) : 2000;
    s.window = argc > 4 ? std::atoi(argv[4]) : 32;
    s.zone = argc > 5 ? argv[5] : "bench.test";
    const int big = argc > 6 ? std::atoi(argv[6]) : 100000;
    const int rounds = argc > 7 ? std::max(1, std::atoi(argv[7])) : 1;
    const char* ares = argc > 8 ? argv[8] : nullptr;
    const char* cached_rounds = std::getenv("DNS_BENCH_CACHED_ROUNDS");
    s.cached_rounds = cached_rounds ? std::max(1, std::atoi(cached_rounds)) : 1;

    pants::Engine::Options uring_options, epoll_options;
    uring_options.backend = pants::BackendKind::io_uring;
    epoll_options.backend = pants::BackendKind::epoll;
    pants::Engine uring(uring_options), epoll(epoll_options);
    std::vector<Round> u, e;
    std::vector<AresRound> a;
    const std::function<void(int)> clients[] = {
        [&](int r) {
            if (ares) a.push_back(ares_round(ares, r, s));
        },
        [&](int r) { u.push_back(round_of(uring, "uring", r, s)); },
        [&](int r) { e.push_back(round_of(epoll, "epoll", r, s)); },
    };
    for (int r = 0; r < rounds; ++r)
        for (int i = 0; i < 3; ++i) clients[(r + i) % 3](r);
    const Phase u_big = fill_big(uring, "uring", big, s);
    const Phase e_big = fill_big(epoll, "epoll", big, s);

    // The median over rounds of f(round).
    auto over = [&](auto&& f) {
        std::vector<double> v;
        for (int r = 0; r < rounds; ++r) v.push_back(f(std::size_t(r)));
        return median(std::move(v));
    };
    std::printf("DNS A queries through Resolver::query, %d names (fill-big: %d), %d in flight, median of %d rounds\n",
                s.count, big, s.window, rounds);
    std::printf("%-9s %10s %8s %10s %8s %7s", "workload", "uring q/s", "uring us", "epoll q/s", "epoll us", "u/e q/s");
    if (ares) std::printf(" %10s %8s %7s %7s", "c-ares q/s", "c-ares us", "us u/c", "us e/c");
    std::printf("\n");
    auto row = [&](const char* name, Phase Round::*w, Phase AresRound::*aw) {
        std::printf("%-9s %10.0f %8.2f %10.0f %8.2f %7.2f", name, over([&](std::size_t r) { return (u[r].*w).per_second; }),
                    over([&](std::size_t r) { return (u[r].*w).cpu_us; }),
                    over([&](std::size_t r) { return (e[r].*w).per_second; }),
                    over([&](std::size_t r) { return (e[r].*w).cpu_us; }),
                    over([&](std::size_t r) { return ratio((u[r].*w).per_second, (e[r].*w).per_second); }));
        if (ares && aw)
            std::printf(" %10.0f %8.2f %7.2f %7.2f", over([&](std::size_t r) { return (a[r].*aw).per_second; }),
                        over([&](std::size_t r) { return (a[r].*aw).cpu_us; }),
                        over([&](std::size_t r) { return ratio((u[r].*w).cpu_us, (a[r].*aw).cpu_us); }),
                        over([&](std::size_t r) { return ratio((e[r].*w).cpu_us, (a[r].*aw).cpu_us); }));
        std::printf("\n");
    };
    row("cold", &Round::cold, &AresRound::cold);
    row("warm", &Round::warm, &AresRound::warm);
    row("cached", &Round::cached, nullptr);
    row("fill", &Round::fill, nullptr);
    std::printf("%-9s %10.0f %8.2f %10.0f %8.2f %7.2f\n", "fill-big", u_big.per_second, u_big.cpu_us, e_big.per_second,
                e_big.cpu_us, ratio(u_big.per_second, e_big.per_second));
    const double u_fill_qs = over([&](std::size_t r) { return u[r].fill.per_second; }),
                 e_fill_qs = over([&](std::size_t r) { return e[r].fill.per_second; }),
                 u_fill_us = over([&](std::size_t r) { return u[r].fill.cpu_us; }),
                 e_fill_us = over([&](std::size_t r) { return e[r].fill.cpu_us; });
    std::printf("us = CPU microseconds per query (user + system). u/e q/s = io_uring / epoll queries per second;\n"
                "us u/c, us e/c = CPU per query of io_uring, epoll over c-ares' (at most 1: as cheap as c-ares).\n"
                "Each ratio is the median of the rounds' ratios. fill-big (one round) / fill (median):\n"
                "q/s io_uring %.2f, epoll %.2f; CPU per query: io_uring %.2f, epoll %.2f\n"
                "(1: the cache's cost does not grow with its size; CPU is the steadier figure).\n",
                ratio(u_big.per_second, u_fill_qs), ratio(e_big.per_second, e_fill_qs), ratio(u_big.cpu_us, u_fill_us),
                ratio(e_big.cpu_us, e_fill_us));
}
