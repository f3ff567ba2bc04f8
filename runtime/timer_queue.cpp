#include <pants/detail/timer_queue.hpp>
#include <pants/timer.hpp>

namespace pants {

void Timer::cancel() noexcept {
    if (!state_) return;
    state_->active = false;
    state_->reusable = false;  // ended: the engine may drop fn once it returns
    if (state_->queue) state_->queue->remove(*state_);
    // Drop captured state now, not when the handle dies; a callback that
    // cancels itself is cleared by the engine once it returns.
    if (!state_->running) state_->fn = {};
}

bool Timer::active() const noexcept { return state_ && state_->active; }

namespace detail {

TimerQueue::~TimerQueue() {
    for (auto& t : heap_) {
        t->queue = nullptr;
        t->heap_index = TimerState::npos;
        t->active = false;
    }
}

bool TimerQueue::less(std::size_t a, std::size_t b) const noexcept {
    const TimerState& x = *heap_[a];
    const TimerState& y = *heap_[b];
    return x.deadline < y.deadline || (x.deadline == y.deadline && x.sequence < y.sequence);
}

void TimerQueue::place(std::size_t i, std::shared_ptr<TimerState> t) noexcept {
    t->heap_index = i;
    heap_[i] = std::move(t);
}

void TimerQueue::sift_up(std::size_t i) noexcept {
    while (i > 0) {
        std::size_t parent = (i - 1) / 2;
        if (!less(i, parent)) break;
        auto p = std::move(heap_[parent]);
        place(parent, std::move(heap_[i]));
        place(i, std::move(p));
        i = parent;
    }
}

void TimerQueue::sift_down(std::size_t i) noexcept {
    for (;;) {
        std::size_t smallest = i;
        for (std::size_t c : {2 * i + 1, 2 * i + 2})
            if (c < heap_.size() && less(c, smallest)) smallest = c;
        if (smallest == i) return;
        auto s = std::move(heap_[smallest]);
        place(smallest, std::move(heap_[i]));
        place(i, std::move(s));
        i = smallest;
    }
}

void TimerQueue::push(std::shared_ptr<TimerState> t) {
    t->sequence = next_sequence_++;
    t->queue = this;
    heap_.emplace_back();
    place(heap_.size() - 1, std::move(t));
    sift_up(heap_.size() - 1);
}

void TimerQueue::remove(TimerState& t) noexcept {
    std::size_t i = t.heap_index;
    if (i == TimerState::npos || i >= heap_.size() || heap_[i].get() != &t) return;
    auto keep = std::move(heap_[i]);  // t stays alive until we are done
    t.heap_index = TimerState::npos;
    t.queue = nullptr;
    std::size_t last = heap_.size() - 1;
    if (i != last) {
        place(i, std::move(heap_[last]));
        heap_.pop_back();
        sift_down(i);
        sift_up(i);
    } else {
        heap_.pop_back();
    }
}

std::shared_ptr<TimerState> TimerQueue::pop_due(Clock::time_point now) {
    if (heap_.empty() || heap_.front()->deadline > now) return nullptr;
    auto t = heap_.front();
    remove(*t);
    return t;
}

}  // namespace detail
}  // namespace pants
