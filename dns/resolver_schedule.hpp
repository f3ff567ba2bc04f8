// The timing of the resolver's tries (issue 14): each try's timeout, and
// the report of its outcome on a later turn, without an engine timer per
// try.
//
// Two engine timers per try (the timeout, and the callback that reports
// on the next turn) cost four heap allocations and two timer-heap updates
// per query. Here every try of a resolver shares them: the deadlines form
// a list in expiry order (tries almost always share one timeout, so a new
// one goes at the end) watched by one engine timer set for the earliest;
// the outcomes waiting for a later turn form a queue drained by one engine
// callback, made once and queued again on each turn that has outcomes to
// report (a callback made per turn cost two allocations and about 350
// instructions).
#pragma once

#include <cstdint>
#include <memory>

#include <pants/engine.hpp>
#include <pants/timer.hpp>

namespace pants::dns::detail {

struct ScheduleState;

class TrySchedule {
public:
    /// One try's place in the schedule. The owner derives from it; its
    /// destructor takes it out of the schedule.
    class Entry {
    public:
        Entry() = default;
        Entry(const Entry&) = delete;
        Entry& operator=(const Entry&) = delete;

    protected:
        ~Entry();
        /// The deadline set by arm() passed (called from an engine timer).
        virtual void on_deadline() = 0;
        /// The later turn that report_later() asked for (called from an
        /// engine callback; the entry may destroy itself here).
        virtual void on_report() = 0;

    private:
        friend class TrySchedule;
        friend struct ScheduleState;
        ScheduleState* state_ = nullptr;  // while in a list
        Entry* deadline_prev_ = nullptr;
        Entry* deadline_next_ = nullptr;
        Engine::Clock::time_point deadline_{};
        bool timed_ = false;
        Entry* report_next_ = nullptr;
        std::uint64_t report_turn_ = 0;  // the drain it waits for
        bool reporting_ = false;
    };

    explicit TrySchedule(Engine& engine);
    TrySchedule(const TrySchedule&) = delete;
    TrySchedule& operator=(const TrySchedule&) = delete;
    /// Every entry must be gone first.
    ~TrySchedule();

    /// `entry.on_deadline()` runs `timeout` from now (replacing an earlier
    /// deadline of it), unless disarm()ed first.
    void arm(Entry& entry, Engine::Duration timeout);
    void disarm(Entry& entry) noexcept;
    /// `entry.on_report()` runs on a later turn (once, however often this
    /// is called before), unless the entry is destroyed first.
    void report_later(Entry& entry);

private:
    std::shared_ptr<ScheduleState> state_;
    std::shared_ptr<pants::detail::TimerState> report_turn_;  // drains the reports
};

}  // namespace pants::dns::detail
