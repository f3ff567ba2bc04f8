// pants::Cluster (issue 12): engines on threads, started and stopped
// together; SO_REUSEPORT servers on every engine; signals to engine 0;
// teardown of a busy cluster.
#include "net_helpers.hpp"

#include <pants/cluster.hpp>

#include <signal.h>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

using namespace test;
using pants::Cluster;
using pants::Engine;

namespace {

Cluster::Options engines(unsigned n) {
    Cluster::Options o;
    o.engines = n;
    return o;
}

// Connections per engine index, for the spread checks.
std::array<std::atomic<int>, 8> accepted_on{};

class Echo : public pants::Connection {
public:
    void on_connect() override { ++accepted_on[Cluster::current_index()]; }
    void on_read(std::string_view data) override { write(data); }
};

// A client stream that collects what comes back.
struct EchoClient : pants::Stream {
    using pants::Stream::Stream;
    std::string got;
    bool failed = false;
    void on_read(std::string_view d) override { got += d; }
    void on_error(std::error_code) override { failed = true; }
};

void raise_fd_limit(rlim_t want) {
    rlimit r{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &r) == 0);
    if (r.rlim_cur < want) {
        r.rlim_cur = std::min(want, r.rlim_max);
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &r) == 0);
    }
    REQUIRE(r.rlim_cur >= want);
}

// Connects `count` clients to `port`, sends each `size` bytes and checks
// that every byte comes back.
void echo_many(std::uint16_t port, int count, std::size_t size) {
    Engine engine;
    std::vector<std::unique_ptr<EchoClient>> clients;
    for (int i = 0; i < count; ++i) {
        auto c = std::make_unique<EchoClient>(engine);
        c->connect(pants::Address::loopback_v4(port));
        c->write(pattern(size, unsigned(i + 1)));
        clients.push_back(std::move(c));
    }
    run_until(engine, [&] {
        for (auto& c : clients)
            if (c->got.size() < size && !c->failed) return false;
        return true;
    });
    for (int i = 0; i < count; ++i) {
        CHECK_FALSE(clients[std::size_t(i)]->failed);
        CHECK(clients[std::size_t(i)]->got == pattern(size, unsigned(i + 1)));
    }
    for (auto& c : clients) c->close();
    run_until(engine, [&] {
        for (auto& c : clients)
            if (!c->closed()) return false;
        return true;
    });
}

void serve_1000_with_reuse_port(unsigned n) {
    raise_fd_limit(4096);
    for (auto& a : accepted_on) a = 0;
    const auto port = free_loopback_port();
    Cluster cluster(engines(n));
    std::atomic<int> listening{0};
    cluster.start([&](Engine& engine) {
        auto server = std::make_unique<pants::Server<Echo>>(engine);
        // No option given: inside a cluster SO_REUSEPORT is on by default.
        REQUIRE(server->listen(pants::Address::loopback_v4(port), 1024));
        ++listening;
        return server;
    });
    REQUIRE(listening == int(n));
    echo_many(port, 1000, 1000);
    int total = 0;
    for (unsigned i = 0; i < n; ++i) {
        INFO("engine " << i << " accepted " << accepted_on[i].load());
        CHECK(accepted_on[i] > 0);  // the kernel spread them (1 in 4^1000 to fail by chance)
        total += accepted_on[i];
    }
    CHECK(total == 1000);
    cluster.stop();
    cluster.join();
}

}  // namespace

TEST_CASE("a cluster runs setup once on each engine, each on a thread of its own") {
    Cluster cluster(engines(4));
    CHECK(cluster.size() == 4);
    std::mutex m;
    std::set<std::thread::id> threads;
    std::set<std::size_t> indexes;
    std::set<Engine*> seen;
    cluster.start([&](Engine& engine) {
        std::lock_guard lock(m);
        threads.insert(std::this_thread::get_id());
        indexes.insert(Cluster::current_index());
        seen.insert(&engine);
        CHECK(Cluster::current() == &cluster);
        CHECK(&cluster.engine(Cluster::current_index()) == &engine);
    });
    CHECK(threads.size() == 4);
    CHECK(indexes == std::set<std::size_t>{0, 1, 2, 3});
    CHECK(seen.size() == 4);
    CHECK_FALSE(threads.count(std::this_thread::get_id()));
    cluster.stop();
    cluster.join();
    CHECK(Cluster::current() == nullptr);
}

TEST_CASE("run makes the calling thread engine 0 and returns once every engine stopped") {
    Cluster cluster(engines(3));
    std::thread::id engine0;
    cluster.run([&](Engine& engine) {
        if (Cluster::current_index() == 0) {
            engine0 = std::this_thread::get_id();
            engine.defer(std::chrono::milliseconds(5), [&] { cluster.stop(); });
        }
    });
    CHECK(engine0 == std::this_thread::get_id());
}

TEST_CASE("engines default to the CPUs the process may use") {
    Cluster cluster;
    CHECK(cluster.size() == Cluster::available_cpus());
    CHECK(cluster.size() >= 1);
}

TEST_CASE("a setup that throws stops the cluster and the exception reaches the caller") {
    Cluster cluster(engines(2));
    CHECK_THROWS_AS(cluster.run([](Engine&) {
        if (Cluster::current_index() == 1) throw std::runtime_error("setup failed");
    }),
                    std::runtime_error);
}

TEST_CASE("a signal sent to the process goes to engine 0, whichever thread sent it") {
    Cluster::Options o = engines(3);
    o.signals = {SIGUSR1};
    Cluster cluster(o);
    std::atomic<int> got{0};
    std::atomic<std::size_t> on_engine{99};
    cluster.on_signal = [&](int signo) {
        got = signo;
        on_engine = Cluster::current_index();
        cluster.stop();
    };
    cluster.run([&](Engine& engine) {
        if (Cluster::current_index() == 2)
            engine.defer(std::chrono::milliseconds(1), [] { ::kill(::getpid(), SIGUSR1); });
    });
    CHECK(got == SIGUSR1);
    CHECK(on_engine == 0);
}

TEST_CASE("a cluster of 2 engines serves 1,000 connections on one port with SO_REUSEPORT") {
    serve_1000_with_reuse_port(2);
}

TEST_CASE("a cluster of 4 engines serves 1,000 connections on one port with SO_REUSEPORT") {
    serve_1000_with_reuse_port(4);
}

TEST_CASE("reuse_port off: a second listener on the same port fails") {
    const auto port = free_loopback_port();
    Engine engine;
    pants::Server<Echo> a(engine), b(engine);
    pants::ListenOptions off;
    off.reuse_port = false;
    REQUIRE(a.listen(pants::Address::loopback_v4(port), off));
    auto r = b.listen(pants::Address::loopback_v4(port), off);
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::address_in_use);
    pants::ListenOptions on;
    on.reuse_port = true;
    pants::Server<Echo> c(engine), d(engine);
    const auto port2 = free_loopback_port();
    REQUIRE(c.listen(pants::Address::loopback_v4(port2), on));
    CHECK(d.listen(pants::Address::loopback_v4(port2), on));
}

TEST_CASE("datagram listeners share a port with SO_REUSEPORT in a cluster") {
    const auto port = free_loopback_port();
    Cluster cluster(engines(2));
    std::atomic<int> bound{0};
    cluster.start([&](Engine& engine) {
        auto d = std::make_unique<pants::Datagram>(engine);
        if (d->listen(pants::Address::loopback_v4(port))) ++bound;
        return d;
    });
    CHECK(bound == 2);
}

TEST_CASE("destroying a cluster while its connections are busy leaks no descriptor") {
    raise_fd_limit(4096);
    const int fds = count_fds();
    const auto port = free_loopback_port();
    {
        Engine client_engine;
        std::vector<std::unique_ptr<EchoClient>> clients;
        {
            Cluster cluster(engines(2));
            cluster.start([&](Engine& engine) {
                auto server = std::make_unique<pants::Server<Echo>>(engine);
                REQUIRE(server->listen(pants::Address::loopback_v4(port)));
                return server;
            });
            for (int i = 0; i < 100; ++i) {
                auto c = std::make_unique<EchoClient>(client_engine);
                c->connect(pants::Address::loopback_v4(port));
                c->write(pattern(256 << 10, unsigned(i)));  // more than a round trip of buffers
                clients.push_back(std::move(c));
            }
            // Traffic under way on both sides...
            run_until(client_engine, [&] {
                std::size_t some = 0;
                for (auto& c : clients) some += !c->got.empty();
                return some == clients.size();
            });
            // ...and the cluster goes away in the middle of it.
        }
        run_until(client_engine, [&] {
            for (auto& c : clients)
                if (!c->closed()) return false;
            return true;
        });
    }
    CHECK(count_fds() == fds);
}

TEST_CASE("acceptor mode: one engine accepts, every engine gets an even share of 1,000 connections") {
    raise_fd_limit(4096);
    for (auto& a : accepted_on) a = 0;
    pants::SharedAcceptor acceptor;
    REQUIRE(acceptor.listen(pants::Address::loopback_v4(0)));
    const auto port = acceptor.local_address()->port();
    constexpr unsigned n = 4;
    Cluster cluster(engines(n));
    std::atomic<int> listening{0};
    cluster.start([&](Engine& engine) {
        auto server = std::make_unique<pants::Server<Echo>>(engine);
        REQUIRE(server->listen(acceptor));
        listening += server->listening();
        return server;
    });
    CHECK(listening == 1);  // one of them accepts for all
    echo_many(port, 1000, 1000);
    const auto shares = acceptor.shares();
    REQUIRE(shares.size() == n);
    std::size_t total = 0, low = shares[0], high = shares[0];
    for (auto s : shares) {
        total += s;
        low = std::min(low, s);
        high = std::max(high, s);
    }
    CHECK(total == 1000);
    // All stay open until the end: least-loaded keeps the counts within
    // one of each other (two, to allow for a race with a late adoption).
    CHECK(high - low <= 2);
    for (unsigned i = 0; i < n; ++i) {
        INFO("engine " << i);
        CHECK(accepted_on[i] >= 240);
    }
    cluster.stop();
    cluster.join();
}
