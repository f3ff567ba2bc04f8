#include "datagram_io.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "scoped_flag.hpp"
#include "socket.hpp"

namespace pants::detail {
namespace {

// Receive errors after which the socket itself is unusable. Everything else
// (ICMP reports such as ECONNREFUSED, EHOSTUNREACH, EPROTO for a parameter
// problem, ENOPROTOOPT for protocol-unreachable; shortages) concerns one
// datagram: it is reported and the channel goes on receiving.
bool is_fatal_receive(int err) {
    return err == EBADF || err == ENOTSOCK || err == EFAULT || err == EOPNOTSUPP;
}

// Takes the first datagram off a payload: all of it, unless coalesced
// (UDP_GRO) from datagrams of segment_size bytes.
std::string_view take_datagram(std::string_view& payload, std::uint16_t segment_size) {
    const std::size_t n = segment_size ? std::min<std::size_t>(segment_size, payload.size()) : payload.size();
    const std::string_view datagram = payload.substr(0, n);
    payload.remove_prefix(n);
    return datagram;
}

}  // namespace

DatagramIo::DatagramIo(Engine& e, Datagram* o) : OwnedChannelIo(e, o) {
    recv_op_.kind = OpKind::recvmsg;
    multi_op_.kind = OpKind::receive_from;
    recv_msg_.msg_iov = &recv_iov_;
    recv_msg_.msg_iovlen = 1;
    // The kernel reads this once per (re-)arm: room for any sender's name,
    // no control data, one iovec (empty: the provided buffer's size rules).
    multi_msg_.msg_name = &multi_name_;
    multi_msg_.msg_namelen = sizeof multi_name_;
    multi_msg_.msg_iov = &multi_iov_;
    multi_msg_.msg_iovlen = 1;
    multi_op_.msg = &multi_msg_;
    recv_op_.msg = &recv_msg_;
}

// --- lifecycle ---------------------------------------------------------

Result<void> DatagramIo::open(int family, const Address* bind_to, bool reuse_port) {
    auto s = bind_to ? open_bound(*bind_to, SOCK_DGRAM, reuse_port) : open_socket(family, SOCK_DGRAM);
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
    take(fd, bind_to != nullptr);
    return ok();
}

// The socket is ours from here: set up the operations and receive.
void DatagramIo::take(int socket_fd, bool offload) {
    fd = socket_fd;
    if (broadcast) set_broadcast(true);
    buf_size_ = owner ? std::max<std::size_t>(owner->buffer_size, 1) : 65536;
    recv_op_.fd = fd;
    multi_op_.fd = fd;
    if (offload) enable_receive_offload();
    set_phase(Phase::open);
    start_receiving();
}

DatagramIo::~DatagramIo() { listen_notice_.cancel(); }

// UDP_GRO (udp(7), Linux 5.0): the kernel may hand over several datagrams
// of one sender as one payload (a peer's GSO batch, or a NIC's GRO), with
// their size in a control message; received() and on_received() cut them
// apart again. Only when buffer_size holds the largest such payload: else
// a payload could exceed the buffer a datagram that fits must be kept in.
// Only for a socket of listen() or assign(): the first UDP_GRO socket of
// the host flips a kernel-wide switch (about 100 µs), which short-lived
// client sockets (and the DNS resolver's) should not pay each time.
void DatagramIo::enable_receive_offload() {
    int on = owner && owner->receive_offload && buf_size_ >= kLargestPayload;
    // Refused by anything but a UDP socket (Unix, ...): one datagram each.
    // Turning it off matters only for an assign()ed socket that had it on.
    if (::setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) < 0 || !on) return;
    multi_msg_.msg_control = control_;
    multi_msg_.msg_controllen = sizeof control_;
    recv_msg_.msg_control = control_;
}

char* DatagramIo::buffer() {
    // Made when first needed (a coroutine receives, or frames must outlive
    // the engine's buffer): a channel receiving by callbacks never needs it.
    if (!buf_) buf_.reset(new char[buf_size_]);
    return buf_.get();
}

void DatagramIo::announce_listen() {
    listening = true;
    // On a later turn, never inside listen(); not at all if closed by then.
    listen_notice_ = engine.callback([this] {
        if (owner && !closing()) call([&] { owner->on_listen(); });
    });
}

Result<void> DatagramIo::listen(const Address& address, bool reuse_port) {
    if (closing()) return unexpected(close_error());
    if (fd >= 0) return pants::fail(EISCONN);
    auto r = open(address.family(), &address, reuse_port);
    if (r) announce_listen();
    return r;
}

Result<void> DatagramIo::connect(const Address& address) {
    if (closing()) return unexpected(close_error());
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

bool DatagramIo::busy() const noexcept { return recv_op_.in_flight || multi_op_.in_flight || chain_size_ > 0; }

void DatagramIo::cancel_operations() {
    for (Operation* op : {&recv_op_, &multi_op_})
        if (op->in_flight) backend().cancel(*op);
    for (std::size_t i = 0; i < chain_size_; ++i)
        if (chain_->ops[i].in_flight) backend().cancel(chain_->ops[i]);
}

void DatagramIo::begin_end() {
    // Nothing more is received; what is queued is still sent.
    if (recv_op_.in_flight) backend().cancel(recv_op_);
    if (multi_op_.in_flight) backend().cancel(multi_op_);
    if (chain_size_ == 0 && out_.empty()) return close();
    engine.queue_flush(*this);
}

void DatagramIo::report(Report r, std::error_code ec) {
    switch (r) {
    case Report::read:
    case Report::overflow:
        return owner->on_read_error(ec);
    case Report::write:
        return owner->on_write_error(ec);
    case Report::connect:
    case Report::other:
        return owner->on_error(ec);
    }
}


// --- receiving -----------------------------------------------------------

void DatagramIo::start_receiving() {
    // One receive at a time, multishot or not, so that order is kept.
    if (closing() || fd < 0 || recv_op_.in_flight || multi_op_.in_flight || has_datagram_) return;
    if (!pull_) return backend().submit(multi_op_);  // armed until pull mode, an error or close
    // In pull mode the next datagram waits in the kernel until a receive()
    // wants it: that keeps the previous frame's view valid, and the socket
    // buffer is the backpressure.
    if (readers.empty() || !early_.empty()) return;
    recv_iov_.iov_base = buffer();
    recv_iov_.iov_len = buf_size_;
    recv_msg_.msg_name = from_.data();
    recv_msg_.msg_namelen = Address::capacity();
    if (recv_msg_.msg_control) recv_msg_.msg_controllen = sizeof control_;
    recv_msg_.msg_flags = 0;
    backend().submit(recv_op_);
}

void DatagramIo::receive_ended(int result) {
    if (closing()) return maybe_finish();
    if (result < 0 && result != -ECANCELED) {
        if (is_fatal_receive(-result)) return fail(errno_code(-result), Report::other);
        read_error(errno_code(-result));
    }
    start_receiving();
}

void DatagramIo::on_received(Operation& op, const Completion& c) {
    DatagramIo& d = *static_cast<Op&>(op).io;
    if (c.result < 0 || d.closing()) return d.receive_ended(c.result);
    if (received_cut(d.recv_msg_.msg_flags, d.recv_msg_.msg_control != nullptr)) {
        // Never deliver a cut datagram as if it were whole.
        d.read_error(std::make_error_code(std::errc::message_size));
        return d.start_receiving();
    }
    d.from_.set_size(d.recv_msg_.msg_namelen);
    // An unnamed Unix sender has only a family: nothing to reply to.
    if (d.from_.size() > sizeof(sa_family_t)) d.last = d.from_;
    d.hold(std::string_view(d.buffer(), std::size_t(c.result)),
           d.recv_msg_.msg_control ? gro_segment_size(d.recv_msg_) : 0);
    d.deliver();
}

void DatagramIo::on_datagram(Operation& op, const Completion& c) {
    DatagramIo& d = *static_cast<Op&>(op).io;
    if (c.more) {  // one datagram: the backend passed a DatagramCompletion
        if (!d.closing()) d.received(static_cast<const DatagramCompletion&>(c));
        return;
    }
    // The multishot ended: a cancel (pull mode, close) or an error
    // (ECONNREFUSED and the like end it too: reported, and armed again).
    d.receive_ended(c.result);
}

void DatagramIo::received(const DatagramCompletion& c) {
    const bool whole = !c.truncated && std::size_t(c.result) <= buf_size_;
    const char* bytes = c.data ? c.data : "";  // an empty datagram may have no buffer
    if (pull_ || has_datagram_ || delivering_ || !early_.empty()) {
        // Pull mode began and the multishot's cancel is on its way: keep
        // this datagram (each of a coalesced payload's), in order, for
        // receive().
        if (!whole) {
            early_.push_back(Early{{}, {}, std::make_error_code(std::errc::message_size)});
            return deliver();
        }
        const Address from = Address::from_sockaddr(c.from, c.from_size);
        if (from.size() > sizeof(sa_family_t)) last = from;
        std::string_view rest(bytes, std::size_t(c.result));
        do {
            early_.push_back(Early{std::string(take_datagram(rest, c.segment_size)), from, {}});
        } while (!rest.empty());
        return deliver();  // a waiting receive() takes it now
    }
    // Never deliver a cut datagram as if it were whole.
    if (!whole) return read_error(std::make_error_code(std::errc::message_size));
    from_ = Address::from_sockaddr(c.from, c.from_size);
    // An unnamed Unix sender has only a family: nothing to reply to.
    if (from_.size() > sizeof(sa_family_t)) last = from_;
    hold(std::string_view(bytes, std::size_t(c.result)), c.segment_size);
    lent_ = true;
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
    // Fits: received() took only payloads of at most buf_size_ bytes.
    char* to = buffer();
    if (!datagram_.empty()) std::memcpy(to, datagram_.data(), datagram_.size());
    if (!segments_.empty()) std::memcpy(to + datagram_.size(), segments_.data(), segments_.size());
    datagram_ = std::string_view(to, datagram_.size());
    segments_ = std::string_view(to + datagram_.size(), segments_.size());
}

void DatagramIo::hold(std::string_view payload, std::uint16_t segment_size) {
    segment_size_ = segment_size;
    segments_ = payload;
    has_datagram_ = true;
    next_datagram();
}

void DatagramIo::next_datagram() {
    datagram_ = take_datagram(segments_, segment_size_);
    between_ = false;
    if (owner) owner->read_delimiter.framer().reset();
}

void DatagramIo::datagram_done() {
    // The frame just cut is yet to be delivered (and its record read):
    // the framer moves on to the next datagram only when asked for a frame.
    has_datagram_ = !segments_.empty();
    between_ = has_datagram_;
    datagram_ = {};
}

std::error_code DatagramIo::unstash() {
    Early e = std::move(early_.front());
    early_.pop_front();
    if (e.error) return e.error;
    std::memcpy(buffer(), e.bytes.data(), e.bytes.size());
    from_ = e.from;
    hold(std::string_view(buffer(), e.bytes.size()), 0);
    lent_ = false;  // in buf_ now: keep_datagram() has nothing to copy
    return {};
}

Result<bool> DatagramIo::next_frame(std::string_view& frame) {
    if (!has_datagram_ || !owner) return false;
    if (between_) next_datagram();
    Framer& framer = owner->read_delimiter.framer();
    if (framer.delimiter().is_none()) {
        frame = datagram_;  // the whole datagram, even an empty one
        datagram_done();
        return true;
    }
    auto next = framer.next(datagram_);
    if (!next) {
        datagram_done();  // the rest of this datagram is unusable
        return unexpected(next.error());
    }
    if (*next) {
        frame = datagram_.substr((*next)->offset, (*next)->length);
        datagram_.remove_prefix((*next)->consumed);
    } else {
        frame = datagram_;  // the datagram's end ends its last frame
        datagram_ = {};
    }
    if (datagram_.empty()) datagram_done();
    return next->has_value() || !frame.empty();
}

void DatagramIo::deliver() {
    if (delivering_) return;
    {
        ScopedFlag guard(delivering_);
        while ((has_datagram_ || !early_.empty()) && owner && !closing()) {
            if (Datagram::ReceiveAwaiter* r = reader()) {
                if (!try_read(*r)) break;
                readers.resume(*r);  // it may receive() again: that takes the next frame
                continue;
            }
            if (pull_) break;
            if (!has_datagram_) {
                if (auto ec = unstash()) call([&] { owner->on_read_error(ec); });
                continue;
            }
            std::string_view frame;
            auto got = next_frame(frame);
            if (!got) {
                call([&] { owner->on_read_error(got.error()); });
            } else if (*got) {
                call([&] { owner->on_read(frame, from_); });
            }
        }
    }
    // A coroutine's last frame stays valid until it asks for the next.
    if (!has_datagram_ && early_.empty() && (!pull_ || !readers.empty())) start_receiving();
}

void DatagramIo::read_error(std::error_code ec) {
    if (Datagram::ReceiveAwaiter* r = reader()) {
        readers.resume(*r, ec);
    } else if (pull_) {
        if (pending_error_ || !early_.empty())
            early_.push_back(Early{{}, {}, ec});  // behind the datagrams before it
        else
            pending_error_ = ec;
    } else if (owner) {
        call([&] { owner->on_read_error(ec); });
    }
}

Datagram::ReceiveAwaiter* DatagramIo::reader() const noexcept {
    return static_cast<Datagram::ReceiveAwaiter*>(readers.front());
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
    if (closing()) {
        r.result_ = unexpected(close_error());
        return true;
    }
    return false;
}

void DatagramIo::wait_read() { start_receiving(); }

void DatagramIo::set_pull(bool pull) {
    if (detached()) return;
    if (pull && !pull_) {
        pull_ = true;
        // Frames of the datagram in hand now go to receive(), whose views
        // must outlive the provided buffer; later datagrams wait in the
        // kernel for single-shot receives.
        keep_datagram();
        if (multi_op_.in_flight) backend().cancel(multi_op_);
        return;
    }
    pull_ = pull;
    if (!pull_) deliver();
}

}  // namespace pants::detail
