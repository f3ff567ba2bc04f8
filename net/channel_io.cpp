#include "channel_io.hpp"

#include <unistd.h>

#include <cassert>
#include <utility>

namespace pants::detail {

namespace {

using Phase = ChannelIo::Phase;

// The lifecycle's edges (see the diagram in channel_io.hpp).
bool allowed(Phase from, Phase to) noexcept {
    switch (from) {
    case Phase::idle:
        return to == Phase::open || to == Phase::ending || to == Phase::closing;
    case Phase::open:
        return to == Phase::ending || to == Phase::closing;
    case Phase::ending:
        return to == Phase::lingering || to == Phase::closing;
    case Phase::lingering:
        return to == Phase::closing;
    case Phase::closing:
        return to == Phase::notifying;
    case Phase::notifying:
        return to == Phase::closed;
    case Phase::closed:
        return false;
    }
    return false;
}

}  // namespace

ChannelIo::~ChannelIo() {
    if (detached_) return;
    engine.cancel_flush(*this);
    engine.detach(*this);
}

void ChannelIo::engine_gone() noexcept {
    detached_ = true;
    // The backend that tracked the socket is gone with the engine.
    if (fd >= 0) ::close(std::exchange(fd, -1));
    if (!has_owner()) delete this;
}

void ChannelIo::set_phase(Phase next) noexcept {
    assert(allowed(phase_, next));
    (void)allowed;
    phase_ = next;
}

void ChannelIo::end() {
    if (closing()) return;
    set_phase(Phase::ending);
    begin_end();
}

void ChannelIo::close() {
    if (detached_) return;
    // Already closing: an operation's final completion (an error after
    // close(), say) may be what it waited for.
    if (phase_ >= Phase::closing) return maybe_finish();
    set_phase(Phase::closing);
    drop_output();
    cancel_operations();
    maybe_finish();
}

void ChannelIo::abandon() {
    forget_owner();
    leave_list();
    if (detached_) {
        delete this;
        return;
    }
    switch (phase_) {
    case Phase::notifying:
        return;  // notify_closed() frees this when it is done
    case Phase::closed:
        if (readers.empty() && writers.empty()) delete this;
        return;
    case Phase::ending:
    case Phase::lingering:
        return;  // end() goes on, then closes and frees this
    default:
        close();
    }
}

void ChannelIo::maybe_finish() {
    if (phase_ != Phase::closing || finish_scheduled_ || busy()) return;
    finish_scheduled_ = true;
    engine.cancel_flush(*this);
    before_close();
    if (fd >= 0) backend().close(std::exchange(fd, -1));
    drop_output();
    // on_close runs on a later turn, never inside the caller's close().
    engine.callback([this] { notify_closed(); });
}

void ChannelIo::notify_closed() {
    // From here a destroyed owner leaves the freeing to the end of this
    // function (abandon() sees the phase).
    set_phase(Phase::notifying);
    readers.resume_all(reader_close_error());
    writers.resume_all(close_error());
    if (has_late_report_ && has_owner()) call([&] { report(late_report_, error); });
    if (has_owner()) call([&] { report_closed(); });
    leave_list();
    set_phase(Phase::closed);
    if (!has_owner() && readers.empty() && writers.empty()) delete this;
}

void ChannelIo::fail(std::error_code ec, Report r) {
    if (!error) error = ec;
    if (has_owner() && phase_ < Phase::closing) call([&] { report(r, ec); });
    close();
}

void ChannelIo::fail_later(std::error_code ec, Report r) {
    if (!error) error = ec;
    if (phase_ < Phase::closing) {
        late_report_ = r;
        has_late_report_ = true;
    }
    close();
}

}  // namespace pants::detail
