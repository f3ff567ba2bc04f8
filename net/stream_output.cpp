// The write side of a StreamIo: the segment queue, one sendmsg per turn,
// write_file, and the write half of backpressure.
#include <sys/stat.h>
#include <unistd.h>

#include "stream_io.hpp"

namespace pants::detail {
namespace {

// sendfile and splice move at most this much per operation.
constexpr std::uint64_t kMaxFileChunk = 1u << 30;
// Emptied segments kept for reuse (no allocation per message), bounded so
// that a burst does not pin its memory for the stream's lifetime.
constexpr std::size_t kMaxSpare = 8;

}  // namespace

void StreamIo::SegmentQueue::pop_front() {
    if (++head_ == items_.size()) {
        items_.clear();
        head_ = 0;
    } else if (head_ > 32 && head_ * 2 > items_.size()) {
        items_.erase(items_.begin(), items_.begin() + std::ptrdiff_t(head_));
        head_ = 0;
    }
}

StreamIo::Segment& StreamIo::tail_for_bytes() {
    if (out_.empty() || out_.back().file_fd >= 0 || out_.size() <= in_flight_segments_ ||
        out_.back().bytes.size() >= kSegmentSize) {
        std::string& bytes = out_.emplace_back().bytes;
        if (!spare_.empty()) {
            bytes = std::move(spare_.back());
            spare_.pop_back();
        } else {
            // Past the small-string size, so the bytes live on the heap and
            // stay put when the queue's vector moves its segments (an
            // in-flight sendmsg points at them).
            bytes.reserve(256);
        }
    }
    return out_.back();
}

void StreamIo::write(std::string_view data) {
    if (closing() || data.empty()) return;
    const std::size_t cap = owner ? owner->max_write_buffer : 0;
    if (cap && out_bytes() + data.size() > cap) {
        // A peer that never reads must not grow us without bound.
        return fail_later(make_error_code(NetError::write_buffer_full), Report::write);
    }
    if (transform_) return transform_->write(data);  // back through send_wire()
    queue_output(data);
}

void StreamIo::queue_output(std::string_view data) {
    out_bytes_ += data.size();
    while (!data.empty()) {
        Segment& seg = tail_for_bytes();
        std::size_t n = std::min(data.size(), kSegmentSize - std::min(kSegmentSize, seg.bytes.size()));
        if (n == 0) n = data.size();  // a spare string bigger than a segment: fill it
        seg.bytes.append(data.substr(0, n));
        data.remove_prefix(n);
    }
    if (!write_paused_ && owner && owner->pause_on_high_water && out_bytes_ > owner->high_water) {
        write_paused_ = true;  // stop reading until the peer takes what we owe it
        update_receive();
    }
    engine.queue_flush(*this);
}

Result<void> StreamIo::write_file(int file, std::uint64_t offset, std::uint64_t nbytes, bool owns_fd) {
    if (closing()) return pants::fail(EPIPE);
    // The kernel would send the file's bytes as they are: not over TLS.
    if (transform_) return pants::fail(ENOTSUP);
    if (nbytes == 0) {
        struct stat st;
        if (::fstat(file, &st) < 0) return pants::fail(errno);
        if (std::uint64_t(st.st_size) < offset) return pants::fail(EINVAL);
        nbytes = std::uint64_t(st.st_size) - offset;
    }
    Segment& seg = out_.emplace_back();
    seg.file_fd = file;
    seg.owns_fd = owns_fd;
    seg.offset = offset;
    seg.remaining = nbytes;
    out_bytes_ += nbytes;
    engine.queue_flush(*this);
    return ok();
}

void StreamIo::flush() {
    if (!connected || fd < 0 || send_op_.in_flight || out_.empty()) return;
    Segment& head = out_.front();
    if (head.file_fd >= 0) {
        send_op_.kind = OpKind::sendfile;
        send_op_.fd = fd;
        send_op_.file_fd = head.file_fd;
        send_op_.offset = head.offset;
        send_op_.size = std::size_t(std::min(head.remaining, kMaxFileChunk));
        in_flight_segments_ = 1;
        backend.submit(send_op_);
        return;
    }
    // Everything written this turn leaves in one sendmsg.
    int n = 0;
    for (auto& seg : out_) {
        if (seg.file_fd >= 0 || n == kMaxIov) break;
        iov_[n].iov_base = seg.bytes.data() + seg.sent;
        iov_[n].iov_len = seg.bytes.size() - seg.sent;
        ++n;
    }
    in_flight_segments_ = std::size_t(n);
    msg_.msg_iovlen = std::size_t(n);
    send_op_.kind = OpKind::send;
    send_op_.fd = fd;
    send_op_.msg = &msg_;
    backend.submit(send_op_);
}

void StreamIo::on_sent(Operation& op, const Completion& c) {
    StreamIo& s = *static_cast<Op&>(op).io;
    s.in_flight_segments_ = 0;
    if (c.result < 0) {
        if (c.result == -ECANCELED && s.phase() >= Phase::closing) return s.maybe_finish();
        return s.fail(errno_code(-c.result), Report::write);
    }
    s.sent(std::size_t(c.result));
    if (s.phase() >= Phase::closing) return s.maybe_finish();
    if (!s.out_.empty()) return s.flush();  // the rest goes now, not next turn
    s.drained();
}

void StreamIo::sent(std::size_t n) {
    out_bytes_ -= std::min(n, out_bytes_);
    while (!out_.empty()) {
        Segment& seg = out_.front();
        if (seg.file_fd >= 0) {
            seg.offset += n;
            seg.remaining -= std::min<std::uint64_t>(n, seg.remaining);
            if (n == 0) {  // the file ended early: drop the rest of it
                out_bytes_ -= std::min<std::uint64_t>(seg.remaining, out_bytes_);
                seg.remaining = 0;
            }
            if (seg.remaining > 0) break;
            if (seg.owns_fd) ::close(seg.file_fd);
            out_.pop_front();
            break;
        }
        std::size_t left = seg.bytes.size() - seg.sent;
        if (n < left) {
            seg.sent += n;
            break;
        }
        n -= left;
        seg.bytes.clear();
        if (spare_.size() < kMaxSpare) spare_.push_back(std::move(seg.bytes));
        out_.pop_front();
        if (n == 0) break;
    }
    if (write_paused_ && out_bytes_ <= (owner ? owner->low_water : 0)) {
        write_paused_ = false;
        update_receive();
    }
    if (out_bytes_ <= high_water()) writers.resume_all();
}

void StreamIo::drained() {
    if (phase() == Phase::ending) return finish_output();
    // A transform's own traffic (a handshake) is not the user's write.
    if (transform_ && (!transform_->established() || transform_->pending())) return;
    if (owner) call([&] { owner->on_write(); });
}

void StreamIo::drop_output() {
    // Segments in flight stay until their completion; the rest go now.
    std::size_t keep = send_op_.in_flight ? in_flight_segments_ : 0;
    while (out_.size() > keep) {
        Segment& seg = out_.back();
        if (seg.owns_fd && seg.file_fd >= 0) ::close(seg.file_fd);
        out_.pop_back();
    }
    if (keep == 0) out_bytes_ = 0;
}

}  // namespace pants::detail
