// pants/when.hpp: running several Tasks at once.
//
// `co_await when_all(a, b, ...)` runs the tasks concurrently and gives a
// tuple of their results once all are done. `co_await when_any(a, b, ...)`
// gives the index and result of the first to finish; the others are
// cancelled and awaited until their operations' completions have come back,
// so nothing they point at is freed early. `with_timeout(engine, d, task)`
// is when_any against a sleep. void results appear as std::monostate. If a
// task throws, the exception is rethrown once every task has ended.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <tuple>
#include <variant>
#include <vector>

#include <pants/engine.hpp>
#include <pants/task.hpp>

namespace pants {
namespace detail {

template <class T>
using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// Shared by the branches of one when_all / when_any.
struct Group {
    static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
    bool any = false;               // when_any: first finisher cancels the rest
    std::size_t remaining = 0;      // branches still running (+1 while starting)
    std::size_t winner = none;
    std::exception_ptr error;
    std::coroutine_handle<> parent;
    std::vector<CancelState> cancels;  // one per branch

    void cancel_all(std::size_t except = none) noexcept {
        for (std::size_t i = 0; i < cancels.size(); ++i)
            if (i != except) cancels[i].request();
    }
};

class BranchPromise {
public:
    struct Handle {
        using promise_type = BranchPromise;
        std::coroutine_handle<BranchPromise> h;
    };
    struct Final {
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<BranchPromise> h) noexcept {
            Group& g = *h.promise().group;
            if (g.winner == Group::none) {
                g.winner = h.promise().index;
                if (g.any) g.cancel_all(g.winner);
            }
            if (--g.remaining == 0) return g.parent;
            return std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };

    Handle get_return_object() noexcept { return {std::coroutine_handle<BranchPromise>::from_promise(*this)}; }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    Final final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept {
        if (!group->error) group->error = std::current_exception();
    }
    CancelState* cancel_state() noexcept { return &group->cancels[index]; }

    Group* group = nullptr;
    std::size_t index = 0;
};

template <class T>
BranchPromise::Handle run_branch(Task<T> task, std::optional<Stored<T>>& slot) {
    if constexpr (std::is_void_v<T>) {
        co_await std::move(task);
        slot.emplace();
    } else {
        slot.emplace(co_await std::move(task));
    }
}

/// Owns the branches and drives them; lives in the awaiting frame.
class GroupAwaiterBase {
public:
    GroupAwaiterBase(const GroupAwaiterBase&) = delete;
    ~GroupAwaiterBase() {
        for (auto& b : branches_)
            if (b.h) b.h.destroy();
    }
    bool await_ready() const noexcept { return branches_.empty(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> parent) {
        group_.parent = parent;
        parent_cancel_ = cancel_state_of(parent);
        group_.remaining = branches_.size() + 1;  // +1: no branch resumes us while we start them
        for (std::size_t i = 0; i < branches_.size(); ++i) {
            branches_[i].h.promise().group = &group_;
            branches_[i].h.promise().index = i;
        }
        if (parent_cancel_) {
            if (parent_cancel_->requested()) group_.cancel_all();
            parent_cancel_->on_request(&GroupAwaiterBase::on_cancel, this);
        }
        for (auto& b : branches_) b.h.resume();
        if (--group_.remaining == 0) {
            if (parent_cancel_) parent_cancel_->clear();
            return false;
        }
        return true;
    }

protected:
    explicit GroupAwaiterBase(bool any, std::size_t n) {
        group_.any = any;
        group_.cancels.resize(n);
        branches_.reserve(n);
    }
    void finish() {
        if (parent_cancel_) parent_cancel_->clear();
        if (group_.error) std::rethrow_exception(group_.error);
    }
    static void on_cancel(void* self) noexcept { static_cast<GroupAwaiterBase*>(self)->group_.cancel_all(); }

    Group group_;
    std::vector<BranchPromise::Handle> branches_;
    CancelState* parent_cancel_ = nullptr;
};

template <bool Any, class... Ts>
class GroupAwaiter : public GroupAwaiterBase {
public:
    explicit GroupAwaiter(Task<Ts>... tasks) : GroupAwaiterBase(Any, sizeof...(Ts)) {
        start(std::index_sequence_for<Ts...>{}, std::move(tasks)...);
    }
    auto await_resume() {
        finish();
        if constexpr (Any) {
            return take_any(std::index_sequence_for<Ts...>{});
        } else {
            return std::apply([](auto&... slot) { return std::tuple<Stored<Ts>...>(std::move(*slot)...); }, slots_);
        }
    }

private:
    template <std::size_t... I>
    void start(std::index_sequence<I...>, Task<Ts>... tasks) {
        (branches_.push_back(run_branch(std::move(tasks), std::get<I>(slots_))), ...);
    }
    template <std::size_t... I>
    auto take_any(std::index_sequence<I...>) {
        using Value = std::variant<Stored<Ts>...>;
        std::optional<Value> v;
        ((group_.winner == I ? (void)v.emplace(std::in_place_index<I>, std::move(*std::get<I>(slots_))) : (void)0), ...);
        return std::pair<std::size_t, Value>(group_.winner, std::move(*v));
    }
    std::tuple<std::optional<Stored<Ts>>...> slots_;
};

template <bool Any, class T>
class RangeAwaiter : public GroupAwaiterBase {
public:
    explicit RangeAwaiter(std::vector<Task<T>> tasks)
        : GroupAwaiterBase(Any, tasks.size()), slots_(tasks.size()) {
        for (std::size_t i = 0; i < tasks.size(); ++i) branches_.push_back(run_branch(std::move(tasks[i]), slots_[i]));
    }
    auto await_resume() {
        finish();
        if constexpr (Any) {
            return std::pair<std::size_t, Stored<T>>(group_.winner, std::move(*slots_[group_.winner]));
        } else {
            std::vector<Stored<T>> out;
            out.reserve(slots_.size());
            for (auto& s : slots_) out.push_back(std::move(*s));
            return out;
        }
    }

private:
    std::vector<std::optional<Stored<T>>> slots_;
};

template <class T>
struct TimeoutResultOf {
    using type = Result<T>;
};
template <class T>
struct TimeoutResultOf<Result<T>> {
    using type = Result<T>;
};

inline Task<void> sleep_task(Engine& engine, Engine::Duration d) { co_await engine.sleep(d); }

}  // namespace detail

/// Runs all tasks concurrently; a tuple of their results when all are done.
template <class... Ts>
[[nodiscard]] detail::GroupAwaiter<false, Ts...> when_all(Task<Ts>... tasks) {
    return detail::GroupAwaiter<false, Ts...>(std::move(tasks)...);
}

/// Runs all tasks concurrently; a vector of their results when all are done.
template <class T>
[[nodiscard]] detail::RangeAwaiter<false, T> when_all(std::vector<Task<T>> tasks) {
    return detail::RangeAwaiter<false, T>(std::move(tasks));
}

/// Runs all tasks concurrently; {index, result} of the first to finish,
/// after the others have been cancelled and have ended.
template <class... Ts>
[[nodiscard]] detail::GroupAwaiter<true, Ts...> when_any(Task<Ts>... tasks) {
    return detail::GroupAwaiter<true, Ts...>(std::move(tasks)...);
}

/// The same, over a vector of tasks of one type (must not be empty).
template <class T>
[[nodiscard]] detail::RangeAwaiter<true, T> when_any(std::vector<Task<T>> tasks) {
    return detail::RangeAwaiter<true, T>(std::move(tasks));
}

/// Runs `task`, cancelling it if it takes longer than `limit`: its result,
/// or std::errc::timed_out. A task returning Result<U> gives Result<U>.
template <class T, class Rep, class Period>
Task<typename detail::TimeoutResultOf<T>::type> with_timeout(Engine& engine, std::chrono::duration<Rep, Period> limit,
                                                             Task<T> task) {
    auto [index, value] = co_await when_any(std::move(task),
                                            detail::sleep_task(engine, detail::saturating_nanoseconds(limit)));
    if (index == 1) co_return fail(std::errc::timed_out);
    if constexpr (std::is_void_v<T>)
        co_return ok();
    else
        co_return std::move(std::get<0>(value));
}

}  // namespace pants
