// The sending side of a DatagramIo: the FIFO of datagrams, the chain of
// sendmsgs in flight, and each datagram's verdict.
//
// A chain: the front of the FIFO cut into up to kMaxChain sendmsgs, all
// submitted at once (io_uring takes them in one io_uring_enter, where one
// sendmsg at a time cost a loop turn each). Each sendmsg of a chain goes to
// a destination no other sendmsg of it has, so that no backend can reorder
// two datagrams to one peer (io_uring may retry one that met a full socket
// buffer after the next one went; epoll sends each at once, and one that
// fails does not hold back the rest); the chain ends before a destination
// it already has, and the next chain starts only when every sendmsg of this
// one has completed. Verdicts are handed out in FIFO order when the whole
// chain has completed.
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

#include <algorithm>
#include <cstring>

namespace pants::detail {
namespace {

// Resolved datagrams kept for reuse, their strings' memory with them, so
// that sending allocates nothing per datagram: as many as a GSO batch, and
// strings of up to 2 KiB (a datagram the size of an Ethernet MTU fits). A
// channel keeps only as many as it once had queued at once: at most about
// 140 KiB, after a burst of 64 datagrams of 2 KiB.
constexpr std::size_t kMaxSpare = 64;
constexpr std::size_t kMaxSpareBytes = 2048;

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
    OutgoingPtr taken;
    if (spare_.empty()) {
        taken = std::make_unique<Outgoing>();
    } else {
        taken = std::move(spare_.back());
        spare_.pop_back();
    }
    Outgoing& o = *out_.push_back(std::move(taken));
    o.bytes.assign(data);
    o.has_to = false;
    o.dropped = false;
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
    while (sending && chain_size_ == 0 && !out_.empty()) {
        if (!out_.front()->dropped && fd >= 0) return start_chain();
        // No socket means no address was ever given (or opening failed).
        resolved(out_.pop_front(), open_error_ ? open_error_ : errno_code(EDESTADDRREQ));
    }
    if (sending && out_.empty() && chain_size_ == 0) drained();
}

namespace {

bool same_destination(const auto& a, const auto& b) noexcept {
    return a.has_to == b.has_to && (!a.has_to || a.to == b.to);
}

}  // namespace

// Cuts the front of out_ into sendmsgs (one GSO batch, or one datagram,
// each) and submits them all: see the top of this file.
void DatagramIo::start_chain() {
    if (!chain_) {
        chain_ = std::make_unique<Chain>();
        for (SendOp& op : chain_->ops) {
            op.io = this;
            op.kind = OpKind::send;
        }
    }
    Chain& chain = *chain_;
    std::size_t at = 0;  // datagrams taken, and iovecs used
    while (chain_size_ < kMaxChain && at < out_.size()) {
        Outgoing& first = *out_[at];
        if (first.dropped) break;  // resolved at the front, in order
        bool repeated = false;
        for (std::size_t i = 0; i < chain_size_ && !repeated; ++i)
            repeated = same_destination(*out_[chain.ops[i].first], first);
        if (repeated) break;
        const std::size_t n = batch(at, kChainIovecs - at);
        if (n == 0) break;  // no iovec left
        SendOp& op = chain.ops[chain_size_++];
        op.fd = fd;
        op.first = std::uint32_t(at);
        op.count = std::uint32_t(n);
        op.msg = &op.header;
        msghdr& msg = op.header;
        msg = msghdr{};
        msg.msg_name = first.has_to ? first.to.data() : nullptr;
        msg.msg_namelen = first.has_to ? first.to.size() : 0;
        msg.msg_iov = &chain.iov[at];
        msg.msg_iovlen = n;
        for (std::size_t i = 0; i < n; ++i) chain.iov[at + i] = iovec{out_[at + i]->bytes.data(), out_[at + i]->bytes.size()};
        if (n > 1) {
            msg.msg_control = op.control;
            msg.msg_controllen = sizeof op.control;
            cmsghdr* cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_UDP;
            cm->cmsg_type = UDP_SEGMENT;
            cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
            const auto gso_size = static_cast<std::uint16_t>(first.bytes.size());
            std::memcpy(CMSG_DATA(cm), &gso_size, sizeof gso_size);
        }
        at += n;
    }
    sending_ = at;
    chain_done_ = 0;
    // No callback runs inside submit(): each result comes on a later
    // completion, so the chain is complete before any of it resolves.
    for (std::size_t i = 0; i < chain_size_; ++i) backend().submit(chain.ops[i]);
}

void DatagramIo::on_sent(Operation& op, const Completion& c) {
    auto& send = static_cast<SendOp&>(op);
    DatagramIo& d = *send.io;
    send.result = c.result;
    if (++d.chain_done_ == d.chain_size_) d.chain_done();
}

// Every sendmsg of the chain has completed: first, with no user code, each
// datagram's verdict is taken out of out_ (those that go again stay at its
// front, in order); then the verdicts are handed out.
void DatagramIo::chain_done() {
    std::size_t kept = 0;  // datagrams at out_'s front that go again
    verdicts_.clear();
    next_verdict_ = 0;
    for (std::size_t i = 0; i < chain_size_; ++i) {
        const SendOp& send = chain_->ops[i];
        std::error_code ec;
        if (send.result < 0)
            ec = send.result == -ECANCELED ? make_error_code(NetError::closed) : errno_code(-send.result);
        // A GSO batch that failed: if GSO was refused, none of it went (all
        // go again, one by one); else the error is its first datagram's, as
        // a pending socket error would be with single sends, and the rest
        // go again. A close resolves the whole batch.
        std::size_t resolved = send.count;
        if (ec && send.count > 1 && send.result != -ECANCELED && phase() < Phase::closing) {
            if (refuses_gso(-send.result)) {
                gso_ = Gso::off;
                resolved = 0;
            } else {
                resolved = 1;
            }
        }
        // Only the first sendmsg's datagrams are at the front; later ones
        // come out from behind those kept.
        for (std::size_t k = 0; k < resolved; ++k) verdicts_.push_back(Verdict{out_.take(kept), ec});
        kept += send.count - resolved;
    }
    chain_size_ = 0;
    sending_ = 0;
    {
        ScopedFlag guard(resolving_);
        while (next_verdict_ < verdicts_.size()) {
            Verdict& v = verdicts_[next_verdict_++];
            resolved(std::move(v.datagram), v.error);
        }
    }
    verdicts_.clear();
    next_verdict_ = 0;
    if (phase() >= Phase::closing) return maybe_finish();
    flush();  // the next chain goes now, not next turn
}

// A datagram's verdict is out: it is resolved, and kept for reuse.
void DatagramIo::resolved(OutgoingPtr datagram, std::error_code ec) {
    Outgoing& o = *datagram;
    // Resolved in FIFO order, but for those that go again (kept at out_'s
    // front): a datagram after one of them is resolved ahead.
    const bool before_all = (out_.empty() || out_.front()->seq > o.seq);
    if (before_all) {
        done_seq_ = o.seq;
        std::erase_if(resolved_ahead_, [&](std::uint64_t seq) { return seq <= o.seq; });
    } else {
        resolved_ahead_.push_back(o.seq);
    }
    if (!o.dropped) send_done(o, ec);
    if (spare_.size() == kMaxSpare) return;
    if (o.bytes.capacity() > kMaxSpareBytes) o.bytes = std::string();
    spare_.push_back(std::move(datagram));  // queue() sets every field again
}

// How many datagrams from out_[at] go in one sendmsg, at most `room`: more
// than one only as a GSO batch.
std::size_t DatagramIo::batch(std::size_t at, std::size_t room) {
    if (room == 0) return 0;
    const Outgoing& first = *out_[at];
    const std::size_t segment = first.bytes.size();
    if (gso_ == Gso::off || segment == 0 || out_.size() - at < 2 || room < 2) return 1;
    const std::size_t limit = std::min({kMaxSegments, room, out_.size() - at});
    std::size_t n = 1, total = segment;
    while (n < limit) {
        const Outgoing& o = *out_[at + n];
        const std::size_t size = o.bytes.size();
        // All of one size but the last; an empty datagram cannot be a
        // segment (it would vanish); one destination.
        if (o.dropped || size == 0 || size > segment || total + size > kMaxGsoBytes) break;
        if (!same_destination(o, first)) break;
        ++n;
        total += size;
        if (size < segment) break;
    }
    if (n < 2 || !gso_usable()) return 1;
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

bool DatagramIo::try_send(Datagram::SendAwaiter& w) {
    if (w.seq_ == 0 || w.seq_ <= done_seq_) return true;
    return std::find(resolved_ahead_.begin(), resolved_ahead_.end(), w.seq_) != resolved_ahead_.end();
}

bool DatagramIo::has_datagram(std::uint64_t seq) const noexcept {
    for (std::size_t i = out_.size(); i-- > 0;)
        if (out_[i]->seq == seq) return !out_[i]->dropped;
    // A completed chain whose verdicts are being handed out.
    for (std::size_t i = next_verdict_; i < verdicts_.size(); ++i)
        if (verdicts_[i].datagram->seq == seq) return !verdicts_[i].datagram->dropped;
    return false;
}

void DatagramIo::drop_datagram(std::uint64_t seq) noexcept {
    for (std::size_t i = 0; i < out_.size(); ++i) {
        // The datagrams already handed to the kernel go anyway.
        if (out_[i]->seq == seq && i >= sending_) out_[i]->dropped = true;
    }
}

void DatagramIo::drop_output() {
    // The datagrams in flight stay until their completion; the rest are
    // dropped (a coroutine waiting on one learns it at the close).
    while (out_.size() > sending_) out_.pop_back();
}

}  // namespace pants::detail
