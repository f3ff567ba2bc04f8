#include <pants/detail/waiter.hpp>

#include <cassert>
#include <new>
#include <utility>

namespace pants::detail {

void Waiter::release() noexcept {
    unlink();
    if (deferred_armed_) {
        deferred_.cancel();  // a frame that dies is never resumed
        deferred_.~Timer();
        deferred_armed_ = false;
    }
}

void Waiter::set_cancelled() noexcept { set_error(std::make_error_code(std::errc::operation_canceled)); }

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

void WaitList::resume(Waiter& w, std::error_code error) {
    remove(w);
    if (error) w.set_error(error);
    w.handle_.resume();
}

void WaitList::resume_later(Waiter& w, std::error_code error) {
    remove(w);
    w.set_error(error);
    Timer t = engine_->callback([&w] { w.handle_.resume(); });
    if (w.deferred_armed_) {
        w.deferred_ = std::move(t);
    } else {
        new (&w.deferred_) Timer(std::move(t));
        w.deferred_armed_ = true;
    }
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
