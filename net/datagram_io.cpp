#include "datagram_io.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "socket.hpp"
#include "scoped_flag.hpp"

namespace pants::detail {
namespace {

// Errors that concern one datagram (or an ICMP report about one), after
// which the socket still works: reported, and the channel goes on.
bool is_transient(int err) {
    switch (err) {
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
    case EMSGSIZE:
    case ENOBUFS:
    case ENOMEM:
    case EPERM:  // a firewall rule refused one datagram
    case EACCES:  // a broadcast without SO_BROADCAST
    case EDESTADDRREQ:
    case EINTR:
    case ENOENT:  // a Unix datagram to a path nobody binds
    case EAGAIN:
        return true;
    default:
        return false;
    }
}


}  // namespace

DatagramIo::DatagramIo(Engine& e, Datagram* o) : engine(e), backend(e.backend()), owner(o) {
    recv_op_.kind = OpKind::recvmsg;
    multi_op_.kind = OpKind::receive_from;
    send_op_.kind = OpKind::send;
    recv_msg_.msg_iov = &recv_iov_;
    recv_msg_.msg_iovlen = 1;
    // The kernel reads this once per (re-)arm: room for any sender's name,
    // no control data, one iovec (empty: the provided buffer's size rules).
    multi_msg_.msg_name = &multi_name_;
    multi_msg_.msg_namelen = sizeof multi_name_;
    multi_msg_.msg_iov = &multi_iov_;
    multi_msg_.msg_iovlen = 1;
    multi_op_.msg = &multi_msg_;
    send_msg_.msg_iov = &send_iov_;
    send_msg_.msg_iovlen = 1;
    recv_op_.msg = &recv_msg_;
    send_op_.msg = &send_msg_;
}

// --- lifecycle ---------------------------------------------------------

Result<void> DatagramIo::open(int family, const Address* bind_to) {
    auto s = bind_to ? open_bound(*bind_to, SOCK_DGRAM) : open_socket(family, SOCK_DGRAM);
    if (!s) return unexpected(s.error());
    fd = *s;
    if (family == AF_UNIX && !bind_to) {
        // Autobind (unix(7)): an unbound Unix datagram socket has no address
        // a reply could be sent to; binding with only the family gives it an
        // abstract name.
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        ::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sa_family_t));
    }
    if (broadcast) set_broadcast(true);
    buf_size_ = owner ? std::max<std::size_t>(owner->buffer_size, 1) : 65536;
    buf_.reset(new char[buf_size_]);
    recv_op_.fd = fd;
    multi_op_.fd = fd;
    send_op_.fd = fd;
    start_receiving();
    return ok();
}

Result<void> DatagramIo::listen(const Address& address) {
    if (closing) return pants::fail(EBADF);
    if (fd >= 0) return pants::fail(EISCONN);
    return open(address.family(), &address);
}

Result<void> DatagramIo::connect(const Address& address) {
    if (closing) return pants::fail(EBADF);
    if (fd < 0) {
        if (auto r = open(address.family(), nullptr); !r) return r;
    }
    if (::connect(fd, address.data(), address.size()) < 0) return pants::fail(errno);
    connected = true;
    last = address;
    return ok();
}

Result<void> DatagramIo::set_broadcast(bool on) {
    broadcast = on;
    if (fd < 0) return ok();
    int value = on;
    if (::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &value, sizeof value) < 0) return pants::fail(errno);
    return ok();
}

void DatagramIo::end() {
    if (closing) return;
    closing = true;
    ending_ = true;
    if (recv_op_.in_flight) backend.cancel(recv_op_);
    if (multi_op_.in_flight) backend.cancel(multi_op_);
    if (!send_op_.in_flight && out_.empty()) return close();
    engine.queue_flush(*this);
}

void DatagramIo::close() {
    if (finish_scheduled_ || finished) return;
    closing = true;
    ending_ = false;
    drop_queue();
    if (recv_op_.in_flight) backend.cancel(recv_op_);
    if (multi_op_.in_flight) backend.cancel(multi_op_);
    if (send_op_.in_flight) backend.cancel(send_op_);
    maybe_finish();
}

void DatagramIo::abandon() {
    owner = nullptr;
    engine.cancel_flush(*this);
    if (finished) {
        if (!notifying_) delete this;  // else notify_closed frees it
        return;
    }
    close();
}

void DatagramIo::fail(std::error_code ec) {
    if (!error) error = ec;
    if (owner) owner->on_error(ec);
    close();
}

void DatagramIo::maybe_finish() {
    if (!closing || ending_ || finish_scheduled_ || recv_op_.in_flight || multi_op_.in_flight ||
        send_op_.in_flight)
        return;
    finish_scheduled_ = true;
    engine.cancel_flush(*this);
    if (fd >= 0) backend.close(std::exchange(fd, -1));
    // on_close runs on a later turn, never inside the caller's close().
    engine.callback([this] { notify_closed(); });
}

void DatagramIo::notify_closed() {
    finished = true;
    // An owner destroyed from a resumed coroutine leaves the delete to us;
    // the guard also clears the flag if a callback below throws.
    ScopedFlag notifying(notifying_);
    std::error_code why = error ? error : make_error_code(NetError::closed);
    if (auto* r = std::exchange(reader_, nullptr)) {
        r->result_ = unexpected(why);
        if (r->cancel_) r->cancel_->clear();
        r->waiter_.resume();
    }
    // Datagrams dropped by close(): their coroutines learn it now.
    while (!out_.empty()) {
        Outgoing o = std::move(out_.front());
        out_.pop_front();
        if (!o.waiter) continue;
        o.waiter->result_ = unexpected(make_error_code(NetError::closed));
        if (o.waiter->cancel_) o.waiter->cancel_->clear();
        o.waiter->waiter_.resume();
    }
    if (owner) owner->on_close();
    notifying.release();
    if (!owner) delete this;
}

// --- receiving -----------------------------------------------------------

void DatagramIo::start_receiving() {
    // One receive at a time, multishot or not, so that order is kept.
    if (closing || fd < 0 || recv_op_.in_flight || multi_op_.in_flight || has_datagram_) return;
    if (!pull_) return backend.submit(multi_op_);  // armed until pull mode, an error or close
    // In pull mode the next datagram waits in the kernel until a receive()
    // wants it: that keeps the previous frame's view valid, and the socket
    // buffer is the backpressure.
    if (!reader_ || !early_.empty()) return;
    recv_iov_.iov_base = buf_.get();
    recv_iov_.iov_len = buf_size_;
    recv_msg_.msg_name = from_.data();
    recv_msg_.msg_namelen = Address::capacity();
    recv_msg_.msg_flags = 0;
    backend.submit(recv_op_);
}

void DatagramIo::on_received(Operation& op, const Completion& c) {
    DatagramIo& d = *static_cast<Op&>(op).io;
    if (d.closing) return d.maybe_finish();
    if (c.result == -ECANCELED) return d.start_receiving();
    if (c.result < 0) {
        if (!is_transient(-c.result)) return d.fail(errno_code(-c.result));
        d.read_error(errno_code(-c.result));
        return d.start_receiving();
    }
    if (d.recv_msg_.msg_flags & MSG_TRUNC) {
        // Never deliver a cut datagram as if it were whole.
        d.read_error(std::make_error_code(std::errc::message_size));
        return d.start_receiving();
    }
    d.from_.set_size(d.recv_msg_.msg_namelen);
    // An unnamed Unix sender has only a family: nothing to reply to.
    if (d.from_.size() > sizeof(sa_family_t)) d.last = d.from_;
    d.datagram_ = std::string_view(d.buf_.get(), std::size_t(c.result));
    d.has_datagram_ = true;
    if (d.owner) d.owner->read_delimiter.framer().reset();
    d.deliver();
}

void DatagramIo::on_datagram(Operation& op, const Completion& c) {
    DatagramIo& d = *static_cast<Op&>(op).io;
    if (c.more) {  // one datagram
        BufferLoan loan(d.backend, c);  // given back even if on_read throws
        if (!d.closing) d.received(c);
        return;
    }
    // The multishot ended: a cancel (pull mode, close) or an error.
    if (d.closing) return d.maybe_finish();
    if (c.result < 0 && c.result != -ECANCELED) {
        // ECONNREFUSED and the like end it too: report, and arm it again.
        if (!is_transient(-c.result)) return d.fail(errno_code(-c.result));
        d.read_error(errno_code(-c.result));
    }
    d.start_receiving();
}

void DatagramIo::received(const Completion& c) {
    const bool whole = !c.truncated && std::size_t(c.result) <= buf_size_;
    const char* bytes = c.data ? c.data : "";  // an empty datagram may have no buffer
    if (pull_ || has_datagram_ || delivering_ || !early_.empty()) {
        // Pull mode began and the multishot's cancel is on its way: keep
        // this datagram, in order, for receive().
        Early& e = early_.emplace_back();
        if (whole) {
            e.bytes.assign(bytes, std::size_t(c.result));
            e.from = Address::from_sockaddr(c.from, c.from_size);
            if (e.from.size() > sizeof(sa_family_t)) last = e.from;
        } else {
            e.error = std::make_error_code(std::errc::message_size);
        }
        return deliver();  // a waiting receive() takes it now
    }
    // Never deliver a cut datagram as if it were whole.
    if (!whole) return read_error(std::make_error_code(std::errc::message_size));
    from_ = Address::from_sockaddr(c.from, c.from_size);
    // An unnamed Unix sender has only a family: nothing to reply to.
    if (from_.size() > sizeof(sa_family_t)) last = from_;
    datagram_ = std::string_view(bytes, std::size_t(c.result));
    has_datagram_ = true;
    lent_ = true;
    if (owner) owner->read_delimiter.framer().reset();
    // Frames still to come must outlive the provided buffer, also when a
    // callback throws out of deliver().
    struct Keep {
        DatagramIo& io;
        ~Keep() { io.keep_datagram(); }
    } keep{*this};
    deliver();
}

void DatagramIo::keep_datagram() {
    if (!std::exchange(lent_, false) || !has_datagram_) return;
    // Fits: received() took only datagrams of at most buf_size_ bytes.
    std::memcpy(buf_.get(), datagram_.data(), datagram_.size());
    datagram_ = std::string_view(buf_.get(), datagram_.size());
}

std::error_code DatagramIo::unstash() {
    Early e = std::move(early_.front());
    early_.pop_front();
    if (e.error) return e.error;
    std::memcpy(buf_.get(), e.bytes.data(), e.bytes.size());
    from_ = e.from;
    datagram_ = std::string_view(buf_.get(), e.bytes.size());
    has_datagram_ = true;
    if (owner) owner->read_delimiter.framer().reset();
    return {};
}

Result<bool> DatagramIo::next_frame(std::string_view& frame) {
    if (!has_datagram_ || !owner) return false;
    Framer& framer = owner->read_delimiter.framer();
    if (framer.delimiter().is_none()) {
        frame = datagram_;  // the whole datagram, even an empty one
        has_datagram_ = false;
        return true;
    }
    auto next = framer.next(datagram_);
    if (!next) {
        has_datagram_ = false;  // the rest of this datagram is unusable
        return unexpected(next.error());
    }
    if (*next) {
        frame = datagram_.substr((*next)->offset, (*next)->length);
        datagram_.remove_prefix((*next)->consumed);
    } else {
        frame = datagram_;  // the datagram's end ends its last frame
        datagram_ = {};
    }
    if (datagram_.empty()) has_datagram_ = false;
    return next->has_value() || !frame.empty();
}

void DatagramIo::deliver() {
    if (delivering_) return;
    {
        ScopedFlag guard(delivering_);
        while ((has_datagram_ || !early_.empty()) && owner && !closing) {
            if (Datagram::ReceiveAwaiter* r = reader_) {
                if (!try_read(*r)) break;
                reader_ = nullptr;
                if (r->cancel_) r->cancel_->clear();
                r->waiter_.resume();  // it may receive() again: that takes the next frame
                continue;
            }
            if (pull_) break;
            if (!has_datagram_) {
                if (auto ec = unstash()) owner->on_read_error(ec);
                continue;
            }
            std::string_view frame;
            auto got = next_frame(frame);
            if (!got) {
                owner->on_read_error(got.error());
            } else if (*got) {
                owner->on_read(frame, from_);
            }
        }
    }
    // A coroutine's last frame stays valid until it asks for the next.
    if (!has_datagram_ && early_.empty() && (!pull_ || reader_)) start_receiving();
}

void DatagramIo::read_error(std::error_code ec) {
    if (auto* r = std::exchange(reader_, nullptr)) {
        r->result_ = unexpected(ec);
        if (r->cancel_) r->cancel_->clear();
        r->waiter_.resume();
    } else if (pull_) {
        if (pending_error_ || !early_.empty())
            early_.push_back(Early{{}, {}, ec});  // behind the datagrams before it
        else
            pending_error_ = ec;
    } else if (owner) {
        owner->on_read_error(ec);
    }
}

bool DatagramIo::try_read(Datagram::ReceiveAwaiter& r) {
    if (pending_error_) {
        r.result_ = unexpected(std::exchange(pending_error_, {}));
        return true;
    }
    for (;;) {
        while (has_datagram_) {
            std::string_view frame;
            auto got = next_frame(frame);
            if (!got) {
                r.result_ = unexpected(got.error());
                return true;
            }
            if (*got) {
                r.result_ = Received{frame, from_};
                return true;
            }
        }
        if (early_.empty()) break;
        if (auto ec = unstash()) {
            r.result_ = unexpected(ec);
            return true;
        }
    }
    if (closing || finished) {
        r.result_ = unexpected(error ? error : make_error_code(NetError::closed));
        return true;
    }
    return false;
}

void DatagramIo::wait_read(Datagram::ReceiveAwaiter& r) {
    reader_ = &r;
    start_receiving();
}

void DatagramIo::cancel_read(Datagram::ReceiveAwaiter& r) {
    if (reader_ != &r) return;
    reader_ = nullptr;
    r.result_ = unexpected(errno_code(ECANCELED));
    // Resume on the next turn, never inside the canceller's call.
    engine.callback([&r] { r.waiter_.resume(); });
}

void DatagramIo::set_pull(bool pull) {
    if (pull && !pull_) {
        pull_ = true;
        // Frames of the datagram in hand now go to receive(), whose views
        // must outlive the provided buffer; later datagrams wait in the
        // kernel for single-shot receives.
        keep_datagram();
        if (multi_op_.in_flight) backend.cancel(multi_op_);
        return;
    }
    pull_ = pull;
    if (!pull_) deliver();
}

// --- sending ---------------------------------------------------------------

std::uint64_t DatagramIo::queue(std::string_view data, const Address* to) {
    if (closing) return 0;
    if (to && fd < 0) {
        if (auto r = open(to->family(), nullptr); !r) open_error_ = r.error();  // reported at the send
    }
    if (!to && last && !connected) to = &*last;
    Outgoing& o = out_.emplace_back();
    if (!spare_.empty()) {
        o.bytes = std::move(spare_.back());
        spare_.pop_back();
    }
    o.bytes.assign(data);
    if (to) {
        o.to = *to;
        o.has_to = true;
        last = *to;
    }
    o.seq = next_seq_++;
    engine.queue_flush(*this);
    return o.seq;
}

void DatagramIo::flush() {
    while (!send_op_.in_flight && !out_.empty() && (!closing || ending_)) {
        Outgoing& o = out_.front();
        if (!o.dropped && fd >= 0) {
            send_iov_.iov_base = o.bytes.data();
            send_iov_.iov_len = o.bytes.size();
            send_msg_.msg_name = o.has_to ? o.to.data() : nullptr;
            send_msg_.msg_namelen = o.has_to ? o.to.size() : 0;
            backend.submit(send_op_);
            return;
        }
        // No socket means no address was ever given (or opening failed).
        Outgoing gone = std::move(out_.front());
        out_.pop_front();
        done_seq_ = gone.seq;
        if (gone.dropped) continue;
        std::error_code ec = open_error_ ? open_error_ : errno_code(EDESTADDRREQ);
        if (gone.waiter) {
            gone.waiter->result_ = unexpected(ec);
            if (gone.waiter->cancel_) gone.waiter->cancel_->clear();
            gone.waiter->waiter_.resume();
        } else if (owner) {
            owner->on_write_error(ec);
        }
    }
    if (out_.empty() && !send_op_.in_flight && (!closing || ending_)) drained();
}

void DatagramIo::on_sent(Operation& op, const Completion& c) {
    DatagramIo& d = *static_cast<Op&>(op).io;
    Outgoing o = std::move(d.out_.front());
    d.out_.pop_front();
    d.done_seq_ = o.seq;
    std::error_code ec;
    if (c.result < 0) ec = c.result == -ECANCELED ? make_error_code(NetError::closed) : errno_code(-c.result);
    if (o.waiter) {
        o.waiter->result_ = ec ? Result<void>(unexpected(ec)) : ok();
        if (o.waiter->cancel_) o.waiter->cancel_->clear();
        o.waiter->waiter_.resume();
    } else if (ec && d.owner && (!d.closing || d.ending_)) {  // end() still reports its flush
        if (is_transient(-c.result))
            d.owner->on_write_error(ec);
        else
            d.fail(ec);
    }
    o.bytes.clear();
    d.spare_.push_back(std::move(o.bytes));
    if (d.closing && !d.ending_) return d.maybe_finish();
    if (!d.out_.empty()) return d.flush();  // the next one goes now, not next turn
    d.drained();
}

void DatagramIo::drained() {
    if (ending_) {
        ending_ = false;
        return close();
    }
    if (owner) owner->on_write();
}

bool DatagramIo::try_send(Datagram::SendAwaiter& w) {
    if (w.seq_ == 0) return true;
    if (w.seq_ <= done_seq_) {
        // Resolved before anyone awaited it; its verdict went to the callbacks.
        w.result_ = ok();
        return true;
    }
    return false;
}

DatagramIo::Outgoing* DatagramIo::find(std::uint64_t seq) noexcept {
    for (auto it = out_.rbegin(); it != out_.rend(); ++it)
        if (it->seq == seq) return &*it;
    return nullptr;
}

bool DatagramIo::wait_send(Datagram::SendAwaiter& w) {
    Outgoing* o = find(w.seq_);
    if (!o) {
        w.result_ = unexpected(make_error_code(NetError::closed));
        return false;
    }
    o->waiter = &w;
    return true;
}

void DatagramIo::cancel_send(Datagram::SendAwaiter& w) {
    Outgoing* o = find(w.seq_);
    if (!o || o->waiter != &w) return;
    o->waiter = nullptr;
    // A datagram already handed to the kernel goes anyway; a queued one is dropped.
    if (!(o == &out_.front() && send_op_.in_flight)) o->dropped = true;
    w.result_ = unexpected(errno_code(ECANCELED));
    engine.callback([&w] { w.waiter_.resume(); });
}

void DatagramIo::drop_queue() {
    // The datagram in flight stays until its completion; the rest are
    // dropped (a coroutine waiting on one learns it in notify_closed).
    std::size_t keep = send_op_.in_flight ? 1 : 0;
    std::deque<Outgoing> waiting;
    while (out_.size() > keep) {
        if (out_.back().waiter) waiting.push_front(std::move(out_.back()));
        out_.pop_back();
    }
    for (auto& o : waiting) out_.push_back(std::move(o));
}

}  // namespace pants::detail
