// runtime/signal_watch.hpp: the signals an Engine delivers, through one
// signalfd read on the loop.
//
// No signal handler is installed: the signals watched are blocked in the
// engine's thread and read from a signalfd with an ordinary read operation
// (io_uring or epoll alike), so a callback runs on a normal loop turn and
// may do anything. A signal sent to the process (kill) reaches this
// signalfd only if every other thread blocks it too; pants::Cluster blocks
// its signals before it starts its threads.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>

#include <memory>
#include <vector>

#include <pants/detail/backend.hpp>
#include <pants/detail/timer_queue.hpp>
#include <pants/timer.hpp>

namespace pants {
class Engine;
}

namespace pants::detail {

class SignalWatch {
public:
    explicit SignalWatch(Engine& engine);
    SignalWatch(const SignalWatch&) = delete;
    SignalWatch& operator=(const SignalWatch&) = delete;
    ~SignalWatch();

    /// Blocks `signo` in the calling thread and runs `fn` on each arrival
    /// until the returned Timer is cancelled.
    Timer add(int signo, Callback fn);
    /// The engine is going away: cancel the read (its completion still comes).
    void stop() noexcept;

private:
    struct ReadOp : Operation {
        explicit ReadOp(SignalWatch* w) : Operation(&SignalWatch::on_read), watch(w) {}
        SignalWatch* watch;
    };
    struct Entry {
        int signo;
        std::shared_ptr<TimerState> state;
    };
    static void on_read(Operation& op, const Completion& c);
    void deliver(int signo);
    void arm();

    Engine& engine_;
    int fd_ = -1;
    sigset_t mask_{};
    bool stopping_ = false;
    std::vector<Entry> entries_;
    ReadOp op_{this};
    // Standard signals are coalesced by the kernel: one siginfo per signal
    // pending; a few per read is plenty.
    signalfd_siginfo infos_[8]{};
};

}  // namespace pants::detail
