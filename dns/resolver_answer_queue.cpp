// Answers known at once, delivered on a later turn (see resolver_answer_queue.hpp).
#include "resolver_answer_queue.hpp"

#include <exception>
#include <vector>

namespace pants::dns::detail {

/// Owned by the engine callback that drains it: the answers outlive the
/// resolver, and a recipient may destroy the resolver mid-drain.
struct AnswerQueue::State {
    explicit State(Engine& e) : engine(e) {}

    struct Waiting {
        Waiting(AnswerRecipient&& t, Answer&& a) : to(std::move(t)), answer(std::move(a)) {}
        AnswerRecipient to;
        Answer answer;
    };

    Engine& engine;
    std::vector<Waiting> queued;  // for the next drain
    std::vector<Waiting> spare;   // a drained queue's storage, for reuse

    void drain() {
        // Only what was queued before this drain: an answer queued by one
        // of these recipients (asking again, from the cache) waits for the
        // next turn, as a new engine callback would.
        std::vector<Waiting> now;
        now.swap(queued);
        queued.swap(spare);
        for (Waiting& w : now) {
            try {
                w.to(std::move(w.answer));
            } catch (...) {
                engine.report(std::current_exception());
            }
        }
        now.clear();
        if (now.capacity() > spare.capacity()) spare.swap(now);
    }
};

AnswerQueue::AnswerQueue(Engine& engine)
    : state_(std::make_shared<State>(engine)),
      drain_(Engine::reusable_callback([state = state_] { state->drain(); })) {}

void AnswerQueue::push(AnswerRecipient&& to, Answer&& answer) {
    state_->queued.emplace_back(std::move(to), std::move(answer));
    state_->engine.schedule_turn(drain_);
}

}  // namespace pants::dns::detail
