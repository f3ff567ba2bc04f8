// pants::Cluster: engines on threads, their start-up and their teardown.
// See pants/cluster.hpp for the contract.
#include <pants/cluster.hpp>

#include <pthread.h>
#include <sched.h>

#include <barrier>
#include <latch>
#include <stdexcept>
#include <system_error>

namespace pants {
namespace {

thread_local Cluster* current_cluster = nullptr;
thread_local std::size_t current_cluster_index = 0;

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
    return cpus;
}

}  // namespace

// Each engine thread goes through the same three gates, so that no engine
// is destroyed while another may still post to it, and no user state
// outlives its engine.
struct Cluster::Shared {
    explicit Shared(std::size_t n)
        : built(std::ptrdiff_t(n)), set_up(std::ptrdiff_t(n)), stopped(std::ptrdiff_t(n)),
          released(std::ptrdiff_t(n)), engines(n, nullptr) {}
    std::barrier<> built;     // every engine exists: setups may refer to the others
    std::latch set_up;        // start() returns after this
    std::barrier<> stopped;   // every loop has returned
    std::barrier<> released;  // every setup's state is gone: engines may go
    std::mutex mutex;         // guards engines and stopping, for stop()
    std::vector<Engine*> engines;
    bool stopping = false;
};

Cluster::Cluster() : Cluster(Options{}) {}

Cluster::Cluster(Options options) : options_(std::move(options)) {
    cpus_ = allowed_cpus();
    count_ = options_.engines ? options_.engines : std::max<std::size_t>(1, cpus_.size());
}

Cluster::~Cluster() {
    stop();
    try {
        join();
    } catch (...) {
        // A setup's exception nobody joined for: nothing left to tell.
    }
}

unsigned Cluster::available_cpus() noexcept {
    try {
        return unsigned(std::max<std::size_t>(1, allowed_cpus().size()));
    } catch (...) {
        return 1;
    }
}

Cluster* Cluster::current() noexcept { return current_cluster; }
std::size_t Cluster::current_index() noexcept { return current_cluster_index; }

Engine& Cluster::engine(std::size_t i) const {
    auto s = shared_;
    if (!s || i >= count_) throw std::out_of_range("pants::Cluster::engine");
    std::lock_guard lock(s->mutex);
    if (!s->engines[i]) throw std::logic_error("pants::Cluster::engine: not running");
    return *s->engines[i];
}

void Cluster::launch(Setup setup, bool caller_is_engine0) {
    if (!threads_.empty() || current_cluster == this)
        throw std::logic_error("pants::Cluster: already running");
    error_ = nullptr;
    shared_ = std::make_shared<Shared>(count_);

    // Blocked before the threads exist, so that they inherit the mask and a
    // signal sent to the process waits for engine 0's signalfd.
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : options_.signals) sigaddset(&mask, s);
    if (int err = ::pthread_sigmask(SIG_BLOCK, &mask, nullptr); err != 0)
        throw std::system_error(err, std::generic_category(), "pants::Cluster: blocking signals");

    for (std::size_t i = caller_is_engine0 ? 1 : 0; i < count_; ++i)
        threads_.emplace_back([this, i, setup] { engine_thread(i, setup); });
    if (caller_is_engine0) {
        engine_thread(0, std::move(setup));
        join();
        return;
    }
    shared_->set_up.wait();
    bool failed;
    {
        std::lock_guard lock(error_mutex_);
        failed = error_ != nullptr;
    }
    if (failed) join();  // a setup threw: the cluster is stopping; say why
}

void Cluster::engine_thread(std::size_t index, Setup setup) noexcept {
    Shared& shared = *shared_;
    Cluster* saved_cluster = std::exchange(current_cluster, this);
    std::size_t saved_index = std::exchange(current_cluster_index, index);
    if (options_.pin && !cpus_.empty()) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus_[index % cpus_.size()], &one);
        if (int err = ::pthread_setaffinity_np(::pthread_self(), sizeof one, &one); err != 0)
            record(std::make_exception_ptr(std::system_error(err, std::generic_category(), "pants::Cluster: pinning")));
    }
    // Built on its own thread: its memory is local to the CPU that runs it.
    std::unique_ptr<Engine> engine;
    try {
        engine = std::make_unique<Engine>(options_.engine);
    } catch (...) {
        record(std::current_exception());
    }
    {
        std::lock_guard lock(shared.mutex);
        shared.engines[index] = engine.get();
        if (shared.stopping && engine) engine->stop();
    }
    shared.built.arrive_and_wait();

    std::shared_ptr<void> kept;
    if (engine) {
        std::vector<Timer> signal_handlers;
        try {
            if (index == 0)
                for (int s : options_.signals)
                    signal_handlers.push_back(engine->on_signal(s, [this](int signo) {
                        if (on_signal)
                            on_signal(signo);
                        else
                            stop();
                    }));
            kept = setup(*engine);
        } catch (...) {
            record(std::current_exception());
        }
        shared.set_up.count_down();
        try {
            engine->start();
        } catch (...) {
            record(std::current_exception());
        }
        for (auto& h : signal_handlers) h.cancel();
    } else {
        shared.set_up.count_down();
    }

    shared.stopped.arrive_and_wait();
    kept.reset();  // the user's servers close on their own engine's thread
    shared.released.arrive_and_wait();
    {
        std::lock_guard lock(shared.mutex);
        shared.engines[index] = nullptr;
    }
    engine.reset();
    current_cluster = saved_cluster;
    current_cluster_index = saved_index;
}

void Cluster::record(std::exception_ptr e) noexcept {
    {
        std::lock_guard lock(error_mutex_);
        if (!error_) error_ = e;
    }
    stop();
}

void Cluster::stop() noexcept {
    auto s = shared_;
    if (!s) return;
    std::lock_guard lock(s->mutex);
    s->stopping = true;
    for (Engine* e : s->engines)
        if (e) e->stop();
}

void Cluster::join() {
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
    rethrow();
}

void Cluster::rethrow() {
    std::exception_ptr e;
    {
        std::lock_guard lock(error_mutex_);
        e = std::exchange(error_, nullptr);
    }
    if (e) std::rethrow_exception(e);
}

}  // namespace pants
