// The sending side of a DatagramIo: the FIFO of datagrams, one sendmsg in
// flight at a time, and each datagram's verdict.
//
// GSO (UDP_SEGMENT, udp(7), Linux 4.18): consecutive datagrams at the
// front of the FIFO with one destination, all of one size but the last
// (which may be shorter), go as one sendmsg, one iovec each; the kernel
// cuts the payload into datagrams of that size, in order, so the peer
// receives exactly what single sends would give it. A kernel, route or
// socket that refuses it (EIO, EINVAL, EMSGSIZE, ...) turns GSO off for
// the channel and the same datagrams go again one by one: nothing is lost.
#include "datagram_io.hpp"
#include "scoped_flag.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>

#include <cstring>

namespace pants::detail {
namespace {

// Emptied datagram strings kept for reuse (no allocation per datagram).
constexpr std::size_t kMaxSpare = 8;

// UDP_MAX_SEGMENTS: 64 until Linux 6.9 (128 since), so 64 works everywhere.
constexpr std::size_t kMaxSegments = 64;
// One GSO send is one IP packet before segmentation: its UDP payload fits
// IPv4's 65,535-byte total length (IPv6 allows a little more).
constexpr std::size_t kMaxGsoBytes = 65535 - 20 - 8;

// Errors of a GSO sendmsg that say GSO itself was refused (no UDP_SEGMENT
// in this kernel, a device without checksum offload, UDP-Lite, IPsec, a
// segment above the path MTU, SO_NO_CHECK), not that the datagrams cannot
// go: they are then sent one by one, and any real error is theirs.
bool refuses_gso(int err) {
    return err == EINVAL || err == EIO || err == EMSGSIZE || err == ENOPROTOOPT || err == EOPNOTSUPP;
}

}  // namespace

// --- sending ---------------------------------------------------------------

std::uint64_t DatagramIo::queue(std::string_view data, const Address* to) {
    if (closing()) return 0;
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
    if (resolving_) return;
    const bool sending = phase() <= Phase::ending;
    while (sending && !send_op_.in_flight && !out_.empty()) {
        Outgoing& o = out_.front();
        if (!o.dropped && fd >= 0) {
            send_msg_.msg_name = o.has_to ? o.to.data() : nullptr;
            send_msg_.msg_namelen = o.has_to ? o.to.size() : 0;
            sending_ = gso_batch();
            if (sending_ == 1) {
                send_iov_.iov_base = o.bytes.data();
                send_iov_.iov_len = o.bytes.size();
                send_msg_.msg_iov = &send_iov_;
                send_msg_.msg_iovlen = 1;
                send_msg_.msg_control = nullptr;
                send_msg_.msg_controllen = 0;
            }
            backend.submit(send_op_);
            return;
        }
        // No socket means no address was ever given (or opening failed).
        Outgoing gone = std::move(out_.front());
        out_.pop_front();
        if (!gone.dropped) send_done(gone, open_error_ ? open_error_ : errno_code(EDESTADDRREQ));
        done_seq_ = gone.seq;
    }
    if (sending && out_.empty() && !send_op_.in_flight) drained();
}

void DatagramIo::on_sent(Operation& op, const Completion& c) {
    DatagramIo& d = *static_cast<Op&>(op).io;
    std::error_code ec;
    if (c.result < 0) ec = c.result == -ECANCELED ? make_error_code(NetError::closed) : errno_code(-c.result);
    // A GSO batch that failed: if GSO was refused, none of it went (all go
    // again, one by one); else the error is its first datagram's, as a
    // pending socket error would be with single sends, and the rest go
    // again. A close resolves the whole batch.
    std::size_t resolved = d.sending_;
    if (ec && resolved > 1 && c.result != -ECANCELED && d.phase() < Phase::closing) {
        if (refuses_gso(-c.result)) {
            d.gso_ = Gso::off;
            resolved = 0;
        } else {
            resolved = 1;
        }
    }
    d.sending_ = resolved;
    // sending_ counts down as they are resolved: a callback that closes
    // the channel (drop_output) keeps those still to resolve here.
    {
        ScopedFlag guard(d.resolving_);
        while (d.sending_ > 0) {
            --d.sending_;
            d.sent_front(ec);
        }
    }
    if (d.phase() >= Phase::closing) return d.maybe_finish();
    d.flush();  // the next one goes now, not next turn
}

// The datagram at the front was sent (or failed with `ec`): its verdict.
void DatagramIo::sent_front(std::error_code ec) {
    Outgoing o = std::move(out_.front());
    out_.pop_front();
    done_seq_ = o.seq;
    if (!o.dropped) send_done(o, ec);
    o.bytes.clear();
    if (spare_.size() < kMaxSpare) spare_.push_back(std::move(o.bytes));
}

// How many datagrams from the front go in the next sendmsg: more than one
// only as a GSO batch, whose iovecs and UDP_SEGMENT it sets up.
std::size_t DatagramIo::gso_batch() {
    const Outgoing& first = out_.front();
    const std::size_t segment = first.bytes.size();
    if (gso_ == Gso::off || segment == 0 || out_.size() < 2) return 1;
    std::size_t n = 1, total = segment;
    while (n < out_.size() && n < kMaxSegments) {
        const Outgoing& o = out_[n];
        const std::size_t size = o.bytes.size();
        // All of one size but the last; an empty datagram cannot be a
        // segment (it would vanish); one destination.
        if (o.dropped || size == 0 || size > segment || total + size > kMaxGsoBytes) break;
        if (o.has_to != first.has_to || (o.has_to && !(o.to == first.to))) break;
        ++n;
        total += size;
        if (size < segment) break;
    }
    if (n < 2 || !gso_usable()) return 1;
    if (!gso_iov_) gso_iov_.reset(new iovec[kMaxSegments]);
    for (std::size_t i = 0; i < n; ++i) gso_iov_[i] = iovec{out_[i].bytes.data(), out_[i].bytes.size()};
    send_msg_.msg_iov = gso_iov_.get();
    send_msg_.msg_iovlen = n;
    send_msg_.msg_control = gso_control_;
    send_msg_.msg_controllen = sizeof gso_control_;
    cmsghdr* cm = CMSG_FIRSTHDR(&send_msg_);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto gso_size = static_cast<std::uint16_t>(segment);
    std::memcpy(CMSG_DATA(cm), &gso_size, sizeof gso_size);
    return n;
}

// GSO is for UDP over IP only: another datagram socket (Unix, adopted by
// assign()) would ignore the control message and send one long datagram.
// Asked once per channel, at its first batch.
bool DatagramIo::gso_usable() {
    if (gso_ != Gso::unknown) return gso_ == Gso::on;
    int domain = 0, protocol = 0;
    socklen_t len = sizeof domain;
    bool udp = ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && (domain == AF_INET || domain == AF_INET6);
    len = sizeof protocol;
    udp = udp && ::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 && protocol == IPPROTO_UDP;
    gso_ = udp ? Gso::on : Gso::off;
    return udp;
}

// A datagram's verdict goes to the coroutine awaiting it, else (a failure)
// to on_send_error with its destination. Never the end of the channel.
void DatagramIo::send_done(Outgoing& o, std::error_code ec) {
    for (Waiter* w = writers.front(); w; w = WaitList::next(*w)) {
        auto& s = static_cast<Datagram::SendAwaiter&>(*w);
        if (s.seq_ != o.seq) continue;
        writers.resume(s, ec);
        return;
    }
    if (!ec || !owner || phase() >= Phase::closing) return;
    Address to = o.has_to ? o.to : last.value_or(Address());
    call([&] { owner->on_send_error(ec, to); });
}

void DatagramIo::drained() {
    if (phase() == Phase::ending) return close();
    if (owner) call([&] { owner->on_write(); });
}

bool DatagramIo::try_send(Datagram::SendAwaiter& w) { return w.seq_ == 0 || w.seq_ <= done_seq_; }

bool DatagramIo::has_datagram(std::uint64_t seq) const noexcept {
    for (auto it = out_.rbegin(); it != out_.rend(); ++it)
        if (it->seq == seq) return !it->dropped;
    return false;
}

void DatagramIo::drop_datagram(std::uint64_t seq) noexcept {
    for (std::size_t i = 0; i < out_.size(); ++i) {
        // The datagrams already handed to the kernel go anyway.
        if (out_[i].seq == seq && i >= sending_) out_[i].dropped = true;
    }
}

void DatagramIo::drop_output() {
    // The datagrams in flight stay until their completion; the rest are
    // dropped (a coroutine waiting on one learns it at the close).
    while (out_.size() > sending_) out_.pop_back();
}

}  // namespace pants::detail
