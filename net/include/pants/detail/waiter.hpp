// pants/detail/waiter.hpp: a coroutine suspended on a channel, and the
// list a channel's I/O state keeps of them.
//
// Every channel awaiter (read, write, connect, receive, send, accept)
// derives from Waiter. A Waiter is linked into a WaitList of the channel's
// I/O state, never into the Stream, Datagram or Server: the I/O state
// outlives its owner until every linked Waiter has been resumed. A Waiter
// unlinks itself when its coroutine frame dies. A Waiter resumed because of
// a cancel resumes on a later turn, never inside the canceller's call.
// Engine thread only.
#pragma once

#include <cassert>
#include <coroutine>
#include <system_error>

#include <pants/detail/cancel.hpp>
#include <pants/engine.hpp>

namespace pants::detail {

class WaitList;

class Waiter {
public:
    // Not defaulted: deferred_ (a union member) is made only when armed.
    Waiter() noexcept {}
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
    ~Waiter() {
        // Inline: most awaiters never suspend (Stream::write's in callback
        // code is made and dropped once per write).
        if (list_ || deferred_armed_) release();
    }

    /// Linked in a WaitList (suspended, not yet resumed).
    bool linked() const noexcept { return list_ != nullptr; }
    /// Why it was resumed without a result (closed, cancelled), if so.
    std::error_code error() const noexcept { return failed() ? std::error_code(error_value_, *error_category_) : std::error_code(); }
    /// error() is set (cheaper to ask than error()).
    bool failed() const noexcept { return error_value_ != 0; }

protected:
    /// What a cancel request does besides the default (unlink, ECANCELED,
    /// resume on the next turn). Return false to keep the default from
    /// running (the hook then arranges the resumption itself).
    using CancelHook = bool (*)(Waiter& self) noexcept;

    /// Suspends `h` in `list`. Returns false (do not suspend; error() is
    /// ECANCELED) when its coroutine chain was already cancelled.
    /// (Inline: a read() that finds nothing buffered waits here, once per
    /// message in a coroutine echo.)
    inline bool wait(WaitList& list, std::coroutine_handle<> h, CancelState* cancel, CancelHook hook = nullptr) noexcept;
    void set_error(std::error_code e) noexcept {
        error_value_ = e.value();
        error_category_ = &e.category();
    }

private:
    friend class WaitList;
    static void cancel_requested(void* self) noexcept;
    void set_cancelled() noexcept;
    void unlink() noexcept;
    void release() noexcept;

    // Only what is read before wait() is initialised here: an awaiter is
    // made per read and write (in callback code too, as write()'s result),
    // and most never wait. wait() sets the rest, push_back() the links.
    WaitList* list_ = nullptr;
    Waiter* prev_;
    Waiter* next_;
    std::coroutine_handle<> handle_;
    CancelState* cancel_;
    CancelHook hook_;
    // error(), kept apart: an empty std::error_code costs a call to
    // std::system_category(). The category is read only when the value is
    // not 0 (set_error() sets both).
    int error_value_ = 0;
    const std::error_category* error_category_;
    // A resumption scheduled for the next turn, alive while deferred_armed_:
    // a union member, so that the awaiters made per read and write (which
    // almost never defer) neither build nor destroy a Timer.
    union {
        Timer deferred_;
    };
    bool deferred_armed_ = false;
};

/// The Waiters of one direction of a channel, in the order they came.
class WaitList {
public:
    explicit WaitList(Engine& engine) noexcept : engine_(&engine) {}
    WaitList(const WaitList&) = delete;
    WaitList& operator=(const WaitList&) = delete;
    ~WaitList();

    bool empty() const noexcept { return head_ == nullptr; }
    Waiter* front() const noexcept { return head_; }
    static Waiter* next(const Waiter& w) noexcept { return w.next_; }

    /// Unlinks `w` and resumes it now, with `error` if not empty (else its
    /// result is ready). Call from a completion or a later turn, never
    /// inside a user's call.
    void resume(Waiter& w, std::error_code error);
    void resume(Waiter& w) {
        // Inline: a coroutine echo resumes its reader once per message.
        remove(w);
        w.handle_.resume();
    }
    /// Unlinks `w` and resumes it on the next turn with `error`.
    void resume_later(Waiter& w, std::error_code error);
    /// Unlinks and resumes every Waiter linked now, each with `error` (if
    /// not empty); one that links again meanwhile waits for the next call.
    void resume_all(std::error_code error) {
        if (head_) resume_each(error);  // inline: mostly nobody waits
    }
    /// The same, each with its result ready.
    void resume_all() {
        if (head_) resume_each(std::error_code());
    }

private:
    friend class Waiter;
    // The list is one pointer (a channel keeps two, and an idle
    // connection's size is what a server with many connections pays for):
    // head_->prev_ is the tail, and the tail's next_ is null.
    void push_back(Waiter& w) noexcept {
        assert(!w.list_);
        w.list_ = this;
        w.next_ = nullptr;
        if (!head_) {
            w.prev_ = &w;
            head_ = &w;
            return;
        }
        Waiter* tail = head_->prev_;
        tail->next_ = &w;
        w.prev_ = tail;
        head_->prev_ = &w;
    }
    void remove(Waiter& w) noexcept {
        assert(w.list_ == this);
        if (&w == head_) {
            head_ = w.next_;
            if (head_) head_->prev_ = w.prev_;  // w.prev_: the tail
        } else {
            w.prev_->next_ = w.next_;
            (w.next_ ? w.next_ : head_)->prev_ = w.prev_;
        }
        w.list_ = nullptr;  // prev_ and next_ mean nothing now: push_back() sets them
        if (w.cancel_) w.cancel_->clear();
    }
    void resume_each(std::error_code error);

    Engine* engine_;
    Waiter* head_ = nullptr;
};

bool Waiter::wait(WaitList& list, std::coroutine_handle<> h, CancelState* cancel, CancelHook hook) noexcept {
    handle_ = h;
    cancel_ = cancel;
    hook_ = hook;
    if (cancel_ && cancel_->requested()) {
        set_cancelled();
        return false;
    }
    list.push_back(*this);
    if (cancel_) cancel_->on_request(&Waiter::cancel_requested, this);
    return true;
}

}  // namespace pants::detail
