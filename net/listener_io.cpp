#include "listener_io.hpp"

#include <unistd.h>

namespace pants::detail {
namespace {

// How long to wait before accepting again after running out of descriptors.
constexpr auto kBackoff = std::chrono::milliseconds(50);

bool is_shortage(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

// accept(2) errors that concern one connection, not the listener.
bool is_transient(int err) {
    return err == ECONNABORTED || err == EPROTO || err == EPERM || err == EINTR || err == EAGAIN ||
           err == ENETDOWN || err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
           err == EOPNOTSUPP || err == ENETUNREACH;
}

}  // namespace

ListenerIo::ListenerIo(Engine& e, ServerBase* o, int listen_fd) : OwnedChannelIo(e, o) {
    fd = listen_fd;
    accept_op_.kind = OpKind::accept;
    accept_op_.fd = fd;
    set_phase(Phase::open);
    arm();
}

ListenerIo::~ListenerIo() { backoff_.cancel(); }

void ListenerIo::arm() {
    if (phase() == Phase::open && !accept_op_.in_flight) backend().submit(accept_op_);
}

void ListenerIo::on_accepted(Operation& op, const Completion& c) {
    ListenerIo& l = *static_cast<Op&>(op).io;
    if (c.result >= 0) {
        if (l.owner && !l.closing())
            l.call([&] { l.owner->accepted(c.result); });
        else
            ::close(c.result);  // the server is gone or closing
    } else if (c.result != -ECANCELED && !is_shortage(-c.result) && !is_transient(-c.result)) {
        // The listener itself is broken (EBADF, EINVAL, ...): retrying
        // would only spin. Report it and stop accepting.
        return l.fail(errno_code(-c.result), Report::other);
    }
    if (c.more) return;
    if (l.closing()) return l.maybe_finish();
    // The accept ended: at once, or after a pause when descriptors ran out
    // (accepting again at once would fail again and spin).
    if (c.result < 0 && is_shortage(-c.result))
        l.backoff_ = l.engine.defer(kBackoff, [&l] { l.arm(); });
    else
        l.arm();
}

void ListenerIo::cancel_operations() {
    backoff_.cancel();
    if (accept_op_.in_flight) backend().cancel(accept_op_);
}

void ListenerIo::drop_output() { accepted_.clear(); }

void ListenerIo::report(Report, std::error_code ec) { owner->on_error(ec); }


void ListenerIo::queue_accepted(std::unique_ptr<Stream> stream) {
    accepted_.push_back(std::move(stream));
    if (Waiter* w = readers.front()) readers.resume(*w);
}

std::unique_ptr<Stream> ListenerIo::take_accepted() {
    if (accepted_.empty()) return nullptr;
    auto s = std::move(accepted_.front());
    accepted_.pop_front();
    return s;
}

}  // namespace pants::detail
