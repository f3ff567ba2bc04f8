// Cross-engine messages (issue 12): post() between the engines of a
// cluster (a ring message where io_uring has MSG_RING, an eventfd write
// otherwise), none lost and in order per sender; co_await engine.call(f),
// also under cancellation.
#include "net_helpers.hpp"

#include <pants/cluster.hpp>

#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace test;
using pants::Cluster;
using pants::Engine;

namespace {

// Stops `cluster` if it still runs after `limit` (a lost message would
// otherwise keep it running for ever); the test's checks then fail.
class ClusterGuard {
public:
    ClusterGuard(Cluster& cluster, std::chrono::seconds limit)
        : thread_([this, &cluster, limit] {
              std::unique_lock lock(mutex_);
              if (!cv_.wait_for(lock, limit, [this] { return done_; })) cluster.stop();
          }) {}
    ~ClusterGuard() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

#if defined(__SANITIZE_ADDRESS__)
// ASan makes each post (an allocation and a lock) some ten times dearer:
// the sanitizer build sends a fifth of the messages.
constexpr std::uint64_t kMessages = 200'000;
#else
constexpr std::uint64_t kMessages = 1'000'000;
#endif
constexpr unsigned kEngines = 4;
constexpr std::uint64_t kBatch = 512;  // messages a sender posts per turn

// Every engine sends to every other engine kMessages / 12 numbered
// messages, a batch per turn; each receiver checks the order per sender.
void all_to_all() {
    constexpr std::uint64_t per_pair = kMessages / (kEngines * (kEngines - 1));
    constexpr std::uint64_t total = per_pair * kEngines * (kEngines - 1);
    struct Receiver {
        std::uint64_t next[kEngines] = {};  // engine-thread only
    };
    std::array<Receiver, kEngines> receivers{};
    std::atomic<std::uint64_t> received{0};
    std::atomic<int> out_of_order{0};
    Cluster::Options o;
    o.engines = kEngines;
    Cluster cluster(o);
    cluster.start([&](Engine& engine) {
        const std::size_t me = Cluster::current_index();
        auto sent = std::make_shared<std::array<std::uint64_t, kEngines>>();
        auto timer = std::make_shared<pants::Timer>();
        *timer = engine.loop([&, me, sent, timer] {
            bool more = false;
            for (std::size_t to = 0; to < kEngines; ++to) {
                if (to == me) continue;
                Engine& target = cluster.engine(to);
                auto& n = (*sent)[to];
                for (std::uint64_t k = 0; k < kBatch && n < per_pair; ++k, ++n) {
                    target.post([&, to, me, seq = n] {
                        if (receivers[to].next[me] != seq) ++out_of_order;
                        receivers[to].next[me] = seq + 1;
                        if (received.fetch_add(1, std::memory_order_relaxed) + 1 == total) cluster.stop();
                    });
                }
                more = more || n < per_pair;
            }
            if (!more) timer->cancel();
        });
    });
    const auto start = Engine::now();
    {
        ClusterGuard guard(cluster, std::chrono::seconds(120));
        cluster.join();
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Engine::now() - start).count();
    MESSAGE(total << " messages in " << ms << " ms");
    CHECK(received == total);
    CHECK(out_of_order == 0);
    for (std::size_t to = 0; to < kEngines; ++to)
        for (std::size_t from = 0; from < kEngines; ++from)
            CHECK(receivers[to].next[from] == (to == from ? 0 : per_pair));
}

}  // namespace

TEST_CASE("1,000,000 messages between 4 engines: none lost, order kept per sender") {
    all_to_all();
}

TEST_CASE("the same with eventfd wake-ups only (io_uring without MSG_RING)") {
    test::ScopedEnv env("PANTS_URING_NO_MSG_RING", "1");
    all_to_all();
}

TEST_CASE("posts between an io_uring engine and an epoll engine arrive in order") {
    if (std::string_view(Engine().backend_name()) != "io_uring") return;  // the epoll run has no such pair
    constexpr std::uint64_t count = 20'000;
    Engine::Options eo;
    eo.backend = pants::BackendKind::epoll;
    std::atomic<Engine*> epoll_engine{nullptr};
    std::uint64_t next = 0;
    bool in_order = true;
    std::thread t([&] {
        Engine e(eo);
        epoll_engine = &e;
        e.start();
        epoll_engine = nullptr;
    });
    while (!epoll_engine) std::this_thread::yield();
    Engine& target = *epoll_engine;
    Engine uring;
    std::uint64_t sent = 0;
    std::atomic<bool> done{false};
    auto timer = uring.loop([&] {
        for (int k = 0; k < 256 && sent < count; ++k, ++sent)
            target.post([&, seq = sent] {
                in_order = in_order && next == seq;
                next = seq + 1;
                if (next == count) done = true;
            });
    });
    run_until(uring, [&] { return done.load(); });
    timer.cancel();
    target.stop();
    t.join();
    CHECK(in_order);
    CHECK(next == count);
}

TEST_CASE("co_await engine.call runs f on the other engine and resumes on its own") {
    Cluster::Options o;
    o.engines = 2;
    Cluster cluster(o);
    std::atomic<std::size_t> ran_on{99}, resumed_on{99};
    std::atomic<int> value{0};
    std::atomic<bool> rethrown{false};
    cluster.start([&](Engine& engine) -> pants::Task<> {
        if (Cluster::current_index() != 1) co_return;
        auto r = co_await cluster.engine(0).call([&] {
            ran_on = Cluster::current_index();
            return 42;
        });
        resumed_on = Cluster::current_index();
        value = r ? *r : -1;
        try {
            co_await cluster.engine(0).call([]() -> int { throw std::runtime_error("on engine 0"); });
        } catch (const std::runtime_error&) {
            rethrown = true;
        }
        (void)engine;
        cluster.stop();
    });
    {
        ClusterGuard guard(cluster, std::chrono::seconds(60));
        cluster.join();
    }
    CHECK(ran_on == 0);
    CHECK(resumed_on == 1);
    CHECK(value == 42);
    CHECK(rethrown);
}

TEST_CASE("a cancelled co_await engine.call resumes at once and skips f if it had not started") {
    Cluster::Options o;
    o.engines = 2;
    Cluster cluster(o);
    std::atomic<bool> release{false};
    std::atomic<bool> f_ran{false};
    std::atomic<int> index{-1};
    std::atomic<bool> cancelled{false};
    cluster.start([&](Engine& engine) -> pants::Task<> {
        if (Cluster::current_index() != 1) co_return;
        Engine& zero = cluster.engine(0);
        // Engine 0 is held busy, so the call below waits in its queue.
        zero.post([&] {
            const auto limit = Engine::now() + std::chrono::seconds(30);  // bounded, should the test fail
            while (!release && Engine::now() < limit) std::this_thread::yield();
        });
        auto call = [&]() -> pants::Task<int> {
            auto r = co_await zero.call([&] {
                f_ran = true;
                return 1;
            });
            cancelled = !r && r.error() == std::errc::operation_canceled;
            co_return 0;
        };
        auto quick = [&]() -> pants::Task<int> {
            co_await engine.sleep(std::chrono::milliseconds(2));
            co_return 1;
        };
        auto [i, v] = co_await pants::when_any(call(), quick());
        (void)v;
        index = int(i);
        release = true;
        // Engine 0 now runs what it had queued; the reply to the dead
        // awaiter comes back here and must find nobody.
        co_await zero.call([] {});
        co_await engine.sleep(std::chrono::milliseconds(1));
        cluster.stop();
    });
    {
        ClusterGuard guard(cluster, std::chrono::seconds(60));
        cluster.join();
    }
    CHECK(index == 1);
    CHECK(cancelled);
    CHECK_FALSE(f_ran);
}
