// The sending side of a DatagramIo: the FIFO of datagrams, one sendmsg in
// flight at a time, and each datagram's verdict.
#include "datagram_io.hpp"

namespace pants::detail {
namespace {

// Emptied datagram strings kept for reuse (no allocation per datagram).
constexpr std::size_t kMaxSpare = 8;

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
    const bool sending = phase() <= Phase::ending;
    while (sending && !send_op_.in_flight && !out_.empty()) {
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
        if (!gone.dropped) send_done(gone, open_error_ ? open_error_ : errno_code(EDESTADDRREQ));
        done_seq_ = gone.seq;
    }
    if (sending && out_.empty() && !send_op_.in_flight) drained();
}

void DatagramIo::on_sent(Operation& op, const Completion& c) {
    DatagramIo& d = *static_cast<Op&>(op).io;
    Outgoing o = std::move(d.out_.front());
    d.out_.pop_front();
    d.done_seq_ = o.seq;
    std::error_code ec;
    if (c.result < 0) ec = c.result == -ECANCELED ? make_error_code(NetError::closed) : errno_code(-c.result);
    if (!o.dropped) d.send_done(o, ec);
    o.bytes.clear();
    if (d.spare_.size() < kMaxSpare) d.spare_.push_back(std::move(o.bytes));
    if (d.phase() >= Phase::closing) return d.maybe_finish();
    d.flush();  // the next one goes now, not next turn
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
        // The datagram already handed to the kernel goes anyway.
        if (out_[i].seq == seq && !(i == 0 && send_op_.in_flight)) out_[i].dropped = true;
    }
}

void DatagramIo::drop_output() {
    // The datagram in flight stays until its completion; the rest are
    // dropped (a coroutine waiting on one learns it at the close).
    std::size_t keep = send_op_.in_flight ? 1 : 0;
    while (out_.size() > keep) out_.pop_back();
}

}  // namespace pants::detail
