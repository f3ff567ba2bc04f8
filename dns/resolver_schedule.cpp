// The timing of the resolver's tries (see resolver_schedule.hpp).
#include "resolver_schedule.hpp"

#include <pants/detail/deadline.hpp>

namespace pants::dns::detail {

using Clock = Engine::Clock;
using Entry = TrySchedule::Entry;

/// The lists, shared with the engine callbacks that drain them: a report
/// may destroy the resolver, and with it the TrySchedule, while the drain
/// is still walking its queue.
struct ScheduleState {
    explicit ScheduleState(Engine& e) : engine(e) {}

    Engine& engine;
    // Armed entries, earliest deadline first.
    Entry* deadline_head = nullptr;
    Entry* deadline_tail = nullptr;
    Timer deadline_timer;
    Clock::time_point timer_at{};  // when deadline_timer fires, while active
    // Entries waiting for a later turn, oldest first.
    Entry* report_head = nullptr;
    Entry* report_tail = nullptr;
    // The engine callback that drains them, made once (TrySchedule owns
    // it; its function owns this state): a turn with reports allocates
    // nothing for it.
    std::weak_ptr<pants::detail::TimerState> report_turn;
    std::uint64_t drains = 0;  // drains started so far

    void unlink_deadline(Entry& e) noexcept;
    void unlink_report(Entry& e) noexcept;
    void watch_deadlines(const std::shared_ptr<ScheduleState>& self);
    void expire(const std::shared_ptr<ScheduleState>& self);
    void drain();
};

void ScheduleState::unlink_deadline(Entry& e) noexcept {
    (e.deadline_prev_ ? e.deadline_prev_->deadline_next_ : deadline_head) = e.deadline_next_;
    (e.deadline_next_ ? e.deadline_next_->deadline_prev_ : deadline_tail) = e.deadline_prev_;
    e.deadline_prev_ = e.deadline_next_ = nullptr;
    e.timed_ = false;
    // No deadline left: no timer left behind either. (One that is still
    // set for an entry gone early just fires and finds nothing due.)
    if (!deadline_head) deadline_timer.cancel();
}

void ScheduleState::unlink_report(Entry& e) noexcept {
    Entry* prev = nullptr;
    for (Entry* p = report_head; p && p != &e; p = p->report_next_) prev = p;
    (prev ? prev->report_next_ : report_head) = e.report_next_;
    if (report_tail == &e) report_tail = prev;
    e.report_next_ = nullptr;
    e.reporting_ = false;
}

// Sets the engine timer for the earliest deadline, unless it is set for
// that time or sooner already.
void ScheduleState::watch_deadlines(const std::shared_ptr<ScheduleState>& self) {
    if (!deadline_head) return;
    const Clock::time_point at = deadline_head->deadline_;
    if (deadline_timer.active() && timer_at <= at) return;
    deadline_timer.cancel();
    timer_at = at;
    deadline_timer = engine.defer(at - Clock::now(), [weak = std::weak_ptr<ScheduleState>(self)] {
        if (auto state = weak.lock()) state->expire(state);
    });
}

void ScheduleState::expire(const std::shared_ptr<ScheduleState>& self) {
    const Clock::time_point now = Clock::now();
    while (deadline_head && deadline_head->deadline_ <= now) {
        Entry& e = *deadline_head;
        unlink_deadline(e);
        e.on_deadline();
    }
    watch_deadlines(self);
}

void ScheduleState::drain() {
    // Only what was queued before this drain: a report queued by one of
    // these waits for the next turn, as an engine callback would.
    const std::uint64_t turn = drains++;
    while (report_head && report_head->report_turn_ <= turn) {
        Entry* e = report_head;
        report_head = e->report_next_;
        if (!report_head) report_tail = nullptr;
        e->report_next_ = nullptr;
        e->reporting_ = false;
        try {
            e->on_report();  // may destroy e, and the TrySchedule
        } catch (...) {
            // The engine's error handler gets it; the others still report,
            // on the next turn. (Entries left mean the TrySchedule, which
            // they must not outlive, still holds the callback.)
            if (report_head) engine.schedule_turn(report_turn.lock());
            throw;
        }
    }
}

Entry::~Entry() {
    if (!state_) return;
    if (timed_) state_->unlink_deadline(*this);
    if (reporting_) state_->unlink_report(*this);
}

TrySchedule::TrySchedule(Engine& engine)
    : state_(std::make_shared<ScheduleState>(engine)),
      report_turn_(Engine::reusable_callback([state = state_] { state->drain(); })) {
    state_->report_turn = report_turn_;
}

TrySchedule::~TrySchedule() {
    state_->deadline_timer.cancel();
    Timer(report_turn_).cancel();
}

void TrySchedule::arm(Entry& entry, Engine::Duration timeout) {
    if (entry.timed_) state_->unlink_deadline(entry);
    entry.state_ = state_.get();
    entry.deadline_ = pants::detail::deadline_after<Clock>(Clock::now(), timeout);
    entry.timed_ = true;
    // From the end: a try's timeout is almost always the resolver's, so
    // the new deadline is the latest.
    Entry* after = state_->deadline_tail;
    while (after && after->deadline_ > entry.deadline_) after = after->deadline_prev_;
    entry.deadline_prev_ = after;
    entry.deadline_next_ = after ? after->deadline_next_ : state_->deadline_head;
    (entry.deadline_next_ ? entry.deadline_next_->deadline_prev_ : state_->deadline_tail) = &entry;
    (after ? after->deadline_next_ : state_->deadline_head) = &entry;
    state_->watch_deadlines(state_);
}

void TrySchedule::disarm(Entry& entry) noexcept {
    if (entry.timed_) state_->unlink_deadline(entry);
}

void TrySchedule::report_later(Entry& entry) {
    if (entry.reporting_) return;
    entry.state_ = state_.get();
    entry.reporting_ = true;
    entry.report_next_ = nullptr;
    entry.report_turn_ = state_->drains;
    (state_->report_tail ? state_->report_tail->report_next_ : state_->report_head) = &entry;
    state_->report_tail = &entry;
    state_->engine.schedule_turn(report_turn_);
}

}  // namespace pants::dns::detail
