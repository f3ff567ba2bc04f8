// pants/detail/timer_queue.hpp: the Engine's pending deadlines.
//
// An indexed binary min-heap ordered by (deadline, sequence): cancel removes
// an entry in O(log n), so timers created and cancelled leave nothing
// behind, and the engine asks the kernel for one timeout per turn: the
// nearest deadline.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include <pants/detail/callback.hpp>

namespace pants::detail {

using Clock = std::chrono::steady_clock;
class TimerQueue;

/// One registration behind a Timer handle.
struct TimerState {
    enum class Kind { next_turn, every_turn, deadline, cycle };
    static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

    Callback fn;
    Kind kind = Kind::deadline;
    bool active = true;
    bool running = false;  // fn is executing: a cancel() inside it must not destroy it
    bool reusable = false;  // a next_turn fn kept after it runs, for Engine::schedule_turn()
    Clock::time_point deadline{};
    Clock::duration interval{};
    std::uint64_t sequence = 0;
    std::size_t heap_index = npos;
    TimerQueue* queue = nullptr;  // set while in the heap
};

class TimerQueue {
public:
    TimerQueue() = default;
    TimerQueue(const TimerQueue&) = delete;
    TimerQueue& operator=(const TimerQueue&) = delete;
    ~TimerQueue();

    void push(std::shared_ptr<TimerState> t);
    void remove(TimerState& t) noexcept;
    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    /// The nearest deadline; only when !empty().
    Clock::time_point next_deadline() const noexcept { return heap_.front()->deadline; }
    /// Removes and returns the nearest timer if it is due at `now`.
    std::shared_ptr<TimerState> pop_due(Clock::time_point now);

private:
    bool less(std::size_t a, std::size_t b) const noexcept;
    void place(std::size_t i, std::shared_ptr<TimerState> t) noexcept;
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;

    std::vector<std::shared_ptr<TimerState>> heap_;
    std::uint64_t next_sequence_ = 0;
};

}  // namespace pants::detail
