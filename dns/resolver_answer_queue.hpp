// Who hears a query's answer, and the answers the resolver knows at once
// (a cache hit, the hosts file, a localhost name, a name that cannot be
// asked), which wait for a later turn: never delivered inside the call
// that asked (STYLE.md 14).
//
// An engine callback per such answer cost two heap allocations (the
// timer's state, and the callback's captures holding the recipient and
// the answer) and about 1,000 instructions per cache hit (issue 14). Here
// they wait in a queue of the resolver's own, drained by one engine
// callback (made once, queued again on each turn with answers); the queue
// keeps its storage from turn to turn, so a steady stream of cache hits
// allocates nothing to wait.
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include <pants/dns/resolver.hpp>
#include <pants/engine.hpp>

namespace pants::dns::detail {

/// Who hears a query's answer: a function of the Answer, or the public
/// QueryCallback itself, so that Resolver::query needs no wrapper (and no
/// allocation for one) between the two.
class AnswerRecipient {
public:
    /// Nobody yet (calling it is an error).
    AnswerRecipient() = default;
    template <class F>
        requires(!std::is_same_v<std::decay_t<F>, AnswerRecipient> && std::is_invocable_v<F&, Answer>)
    AnswerRecipient(F&& f) : to_answer_(std::forward<F>(f)) {}
    AnswerRecipient(Resolver::QueryCallback f) : to_query_(std::move(f)) {}

    void operator()(Answer answer) {
        if (to_query_) return to_query_(answer.status, std::move(answer.cname), answer.ttl, std::move(answer.rdata));
        to_answer_(std::move(answer));
    }

private:
    std::function<void(Answer)> to_answer_;
    Resolver::QueryCallback to_query_;
};

class AnswerQueue {
public:
    explicit AnswerQueue(Engine& engine);
    AnswerQueue(const AnswerQueue&) = delete;
    AnswerQueue& operator=(const AnswerQueue&) = delete;

    /// `to` hears `answer` on a later turn, in the order pushed, also when
    /// the resolver is gone by then (as an engine callback would). What a
    /// recipient throws goes to the engine's error handler; the others
    /// still hear theirs.
    void push(AnswerRecipient&& to, Answer&& answer);

private:
    struct State;
    std::shared_ptr<State> state_;
    // The engine callback that drains it, made once; it owns the State,
    // and a queued run outlives this AnswerQueue.
    std::shared_ptr<pants::detail::TimerState> drain_;
};

}  // namespace pants::dns::detail
