#include <pants/detail/waiter.hpp>

#include <cassert>

namespace pants::detail {

void Waiter::release() noexcept {
    unlink();
    deferred_.cancel();  // a frame that dies is never resumed
}

bool Waiter::wait(WaitList& list, std::coroutine_handle<> h, CancelState* cancel, CancelHook hook) noexcept {
    handle_ = h;
    cancel_ = cancel;
    hook_ = hook;
    if (cancel_ && cancel_->requested()) {
        set_error(std::make_error_code(std::errc::operation_canceled));
        return false;
    }
    list.push_back(*this);
    if (cancel_) cancel_->on_request(&Waiter::cancel_requested, this);
    return true;
}

void Waiter::cancel_requested(void* self) noexcept {
    auto& w = *static_cast<Waiter*>(self);
    if (!w.list_) return;
    if (w.hook_ && !w.hook_(w)) return;
    if (w.list_) w.list_->resume_later(w, std::make_error_code(std::errc::operation_canceled));
}

void Waiter::unlink() noexcept {
    if (list_) list_->remove(*this);
}

WaitList::~WaitList() {
    // The I/O state is freed only once every Waiter was resumed; a frame
    // destroyed meanwhile unlinked itself.
    while (head_) remove(*head_);
}

void WaitList::push_back(Waiter& w) noexcept {
    assert(!w.list_);
    w.list_ = this;
    w.prev_ = tail_;
    w.next_ = nullptr;
    (tail_ ? tail_->next_ : head_) = &w;
    tail_ = &w;
}

void WaitList::remove(Waiter& w) noexcept {
    assert(w.list_ == this);
    (w.prev_ ? w.prev_->next_ : head_) = w.next_;
    (w.next_ ? w.next_->prev_ : tail_) = w.prev_;
    w.prev_ = w.next_ = nullptr;
    w.list_ = nullptr;
    if (w.cancel_) w.cancel_->clear();
}

void WaitList::resume(Waiter& w, std::error_code error) {
    remove(w);
    if (error) w.set_error(error);
    w.handle_.resume();
}

void WaitList::resume(Waiter& w) {
    remove(w);
    w.handle_.resume();
}

void WaitList::resume_later(Waiter& w, std::error_code error) {
    remove(w);
    w.set_error(error);
    w.deferred_ = engine_->callback([&w] { w.handle_.resume(); });
    w.deferred_armed_ = true;
}

void WaitList::resume_each(std::error_code error) {
    // Move them to a list of their own first: a resumed coroutine may wait
    // here again, or destroy another waiter's frame (which then unlinks
    // itself from `batch`).
    WaitList batch(*engine_);
    while (Waiter* w = head_) {
        remove(*w);
        batch.push_back(*w);
    }
    while (Waiter* w = batch.head_) {
        if (error)
            batch.resume(*w, error);
        else
            batch.resume(*w);
    }
}

}  // namespace pants::detail
