// pants/cluster.hpp: one Engine per core, started and stopped together.
//
//   pants::Cluster cluster;                      // one engine per CPU we may use
//   cluster.run([](pants::Engine& engine) {      // on every engine's thread
//       auto server = std::make_unique<pants::Server<Echo>>(engine);
//       server->listen(4000);                    // SO_REUSEPORT: the kernel spreads connections
//       return server;                           // kept until that engine stops
//   });                                          // returns after stop() (Ctrl-C by default)
//
// Thread-per-core, as Seastar and monoio: each engine runs on a thread of
// its own and owns its channels; engines share nothing unless they send
// each other messages (Engine::post, Engine::call). run() makes the calling
// thread engine 0 and returns when every engine has stopped; start() runs
// all of them on new threads and returns at once (then stop() and join()).
//
// Signals: the signals in Options::signals (SIGINT and SIGTERM by default)
// are blocked in the calling thread before any engine thread starts (the
// threads inherit the mask, and the caller's mask stays so), and they are
// read by engine 0 alone, which calls on_signal (default: stop()). Block
// them in any thread you start yourself before the cluster, too.
//
// Teardown: when stopped, every engine finishes its turn; then, on each
// engine's thread, what setup returned is destroyed, and then the engine
// (which closes its channels and drains the kernel's operations). A
// message sent to an engine of a stopping cluster may never run.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include <pants/engine.hpp>

namespace pants {

class Cluster {
public:
    struct Options {
        /// Engines to run; 0: as many as CPUs this process may run on
        /// (sched_getaffinity, so taskset and cgroups cpusets count).
        unsigned engines = 0;
        /// Pins engine i to the i-th CPU the process may run on.
        bool pin = false;
        /// How each engine is built.
        Engine::Options engine{};
        /// Blocked in every engine thread and delivered to engine 0.
        std::vector<int> signals{SIGINT, SIGTERM};
    };

    Cluster();
    explicit Cluster(Options options);
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;
    /// Stops and joins the engines still running.
    ~Cluster();

    /// Builds the engines, calls setup(engine) on each engine's own thread
    /// (all engines exist by then), and runs them until stop(); the
    /// calling thread is engine 0. What setup returns is kept and destroyed
    /// on that engine's thread before the engine; a Task it returns is
    /// spawned on the engine. Rethrows the first exception a setup threw
    /// (the cluster then stops).
    template <class F>
    void run(F setup) {
        launch(erase(std::move(setup)), true);
    }
    /// The same, with every engine on a new thread; returns once all of them
    /// are set up. Then stop() and join() (or let the destructor do both).
    template <class F>
    void start(F setup) {
        launch(erase(std::move(setup)), false);
    }
    /// Makes every engine stop after its current turn. Any thread.
    void stop() noexcept;
    /// Waits until start()'s engines have stopped and been destroyed;
    /// rethrows the first exception a setup threw.
    void join();

    /// Called on engine 0 with each signal of Options::signals (default,
    /// if empty: stop()). Set it before run() or start().
    std::function<void(int)> on_signal;

    /// The number of engines.
    std::size_t size() const noexcept { return count_; }
    /// Engine i, while the cluster runs. Use it only to post() or call().
    Engine& engine(std::size_t i) const;
    /// The cluster whose engine runs on the calling thread, or nullptr.
    static Cluster* current() noexcept;
    /// The index of the engine whose thread calls it (inside a cluster).
    static std::size_t current_index() noexcept;

    /// CPUs the process may run on (what engines = 0 means).
    static unsigned available_cpus() noexcept;

private:
    using Setup = std::function<std::shared_ptr<void>(Engine&)>;

    template <class F>
    static Setup erase(F f) {
        return [f = std::move(f)](Engine& engine) mutable -> std::shared_ptr<void> {
            using R = std::invoke_result_t<F&, Engine&>;
            if constexpr (std::is_void_v<R>) {
                f(engine);
                return nullptr;
            } else if constexpr (requires { typename R::promise_type; }) {
                // A Task starts on the loop's first turn, where
                // Engine::current() is set (co_await engine.call needs it).
                // The lambda outlives it: engine_thread keeps its copy.
                engine.callback([&engine, task = f(engine)]() mutable { engine.spawn(std::move(task)); });
                return nullptr;
            } else {
                return std::make_shared<R>(f(engine));
            }
        };
    }

    void launch(Setup setup, bool caller_is_engine0);
    void engine_thread(std::size_t index, Setup setup) noexcept;
    void record(std::exception_ptr e) noexcept;
    void rethrow();

    Options options_;
    std::size_t count_ = 0;
    std::vector<int> cpus_;  // pin targets

    struct Shared;  // barriers and the engine table, per launch
    std::shared_ptr<Shared> shared_;
    std::vector<std::thread> threads_;
    std::mutex error_mutex_;
    std::exception_ptr error_;
};

}  // namespace pants
