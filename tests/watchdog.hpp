// tests/watchdog.hpp: a bound for tests whose bug would block the engine.
//
// A Watchdog posts to its engine from another thread once `after` has
// passed (and every 10 ms after that, until destroyed): the post wakes a
// blocked poll() and stops start(). A test asserts !fired(): what it waits
// for happened before the watchdog had to step in. `after` is far above what
// the behaviour needs, so that a loaded machine never trips it.
#pragma once

#include <pants/engine.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace test {

class Watchdog {
public:
    Watchdog(pants::Engine& engine, std::chrono::milliseconds after)
        : thread_([this, &engine, after] {
              std::unique_lock lock(mutex_);
              if (cv_.wait_for(lock, after, [this] { return done_; })) return;
              while (!cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return done_; })) {
                  engine.post([fired = fired_, &engine] {
                      *fired = true;
                      engine.stop();
                  });
              }
          }) {}
    Watchdog(const Watchdog&) = delete;
    ~Watchdog() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }
    /// True once the engine ran one of the watchdog's posts.
    bool fired() const noexcept { return *fired_; }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    // Shared with posts still queued when the Watchdog dies.
    std::shared_ptr<std::atomic<bool>> fired_ = std::make_shared<std::atomic<bool>>(false);
    std::thread thread_;  // last: starts once the members above exist
};

}  // namespace test
