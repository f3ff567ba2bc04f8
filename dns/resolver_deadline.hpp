// A per-call deadline for the resolver's callbacks (QueryOptions::timeout).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include <pants/engine.hpp>
#include <pants/timer.hpp>

namespace pants::dns::detail {

/// `done`, bounded by `limit`: whichever comes first, the operation's own
/// call or the deadline, runs `done` (the deadline through `expire(done)`,
/// which calls it with the timeout's values); the other is ignored. The
/// deadline fires from a timer, so never inside the call that started the
/// work. Without a limit, `done` itself.
template <class... Args, class Expire>
std::function<void(Args...)> bounded(Engine& engine, std::optional<std::chrono::milliseconds> limit,
                                     std::function<void(Args...)> done, Expire expire) {
    if (!limit) return done;
    struct Once {
        std::function<void(Args...)> done;
        Timer deadline;
    };
    auto once = std::make_shared<Once>();
    once->done = std::move(done);
    // The timer holds the state weakly: no cycle, and once the operation
    // has answered (and dropped its callback) the timer finds nothing.
    once->deadline = engine.defer(*limit, [weak = std::weak_ptr<Once>(once), expire = std::move(expire)] {
        auto state = weak.lock();
        if (!state || !state->done) return;
        auto call = std::exchange(state->done, nullptr);
        expire(call);
    });
    return [once](Args... args) {
        once->deadline.cancel();
        if (!once->done) return;  // the deadline answered first
        auto call = std::exchange(once->done, nullptr);
        call(std::forward<Args>(args)...);
    };
}

}  // namespace pants::dns::detail
