// The write side of a StreamIo: the output queue, one sendmsg per turn,
// write_file, and the write half of backpressure.
#include <sys/stat.h>
#include <unistd.h>

#include <new>
#include <type_traits>
#include <utility>

#include "stream_io.hpp"

namespace pants::detail {
namespace {

// sendfile and splice move at most this much per operation.
constexpr std::uint64_t kMaxFileChunk = 1u << 30;

}  // namespace

void StreamIo::queue_output_rare(std::string_view data, char* to, bool* room) {
    if (!to) out_.append(data, output_pool());  // more than one block, or a block to allocate
    if (room) *room = true;
    if (owner && out_bytes_ > owner->high_water) {
        check_high_water();
        if (room) *room = false;
    }
    engine.queue_flush(*this);
    if (to) std::memcpy(to, data.data(), data.size());
}

void StreamIo::check_high_water() {
    if (!write_paused_ && owner->pause_on_high_water) {
        write_paused_ = true;  // stop reading until the peer takes what we owe it
        update_receive();
    }
}

void StreamIo::write_rare(std::string_view data) {
    owner->write_room_ = false;  // a co_await write() asks the stream
    if (closing() || data.empty()) return;
    const std::size_t cap = owner->max_write_buffer;
    if (cap && out_bytes() + data.size() > cap) return write_buffer_full();
    transform()->write(data);  // back through send_wire()
}

void StreamIo::write_buffer_full() {
    owner->write_room_ = false;
    fail_later(make_error_code(NetError::write_buffer_full), Report::write);
}

Result<void> StreamIo::write_file(int file, std::uint64_t offset, std::uint64_t nbytes, bool owns_fd) {
    if (closing()) return pants::fail(EPIPE);
    if (nbytes == 0) {
        struct stat st;
        if (::fstat(file, &st) < 0) return pants::fail(errno);
        if (std::uint64_t(st.st_size) < offset) return pants::fail(EINVAL);
        nbytes = std::uint64_t(st.st_size) - offset;
    }
    // The kernel would send the file's bytes as they are: a transform
    // (TLS) reads them in chunks as the queue drains, and encrypts them.
    if (StreamTransform* t = transform()) {
        t->write_file(file, owns_fd, offset, nbytes);
        return ok();
    }
    out_.push_file(file, owns_fd, offset, nbytes);
    out_bytes_ += nbytes;
    engine.queue_flush(*this);
    return ok();
}

void StreamIo::flush() {
    if (!connected || fd < 0 || send_ || out_.empty()) return;
    OutputQueue::Node& head = *out_.front();
    // epoll: the bytes go now, and their result is known now. Apart, so
    // that the path left (io_uring's) calls nothing but the tail submit
    // and needs no frame.
    if (backend().sends_at_once() && !head.is_file()) return flush_now();
    submit_send(head);
}

// flush() on a backend that sends at once, with bytes at the front.
void StreamIo::flush_now() {
    OutputQueue::Node& head = *out_.front();
    if (out_.only(head)) {
        // One block (every echoed message): no gathering, and when the
        // socket takes all of it, no second look at the queue.
        const std::size_t size = head.end - head.begin;
        const iovec iov{head.bytes() + head.begin, size};
        const int r = backend().send_now(fd, &iov, 1);
        if (std::size_t(r) == size && sent_whole_only_block(size)) return;
        if (r != -EAGAIN && sent_now(r)) return;
    } else if (send_at_once()) {
        return;
    }
    if (!out_.empty()) submit_send(*out_.front());
}

// The queue from `head` (its front) goes by an Operation. Inline, one
// block of bytes with a pooled SendState (every echoed message): no call
// but the tail submit, so no frame; the rest in submit_send_rare().
inline void StreamIo::submit_send(OutputQueue::Node& head) {
    // Only StreamIo gives blocks to send_blocks(), so a pooled one still
    // holds a finished SendState (built once, never destroyed): a send per
    // message only changes its owner, instead of building it anew.
    void* block = backend().send_blocks().take_free();
    if (!block || !out_.only(head)) [[unlikely]] return submit_send_rare(head, block);
    Op& op = start_send(block);
    send_->iov[0] = {head.bytes() + head.begin, head.end - head.begin};
    send_bytes(op, 1);
}

// submit_send() for a file segment, several blocks, or with no SendState
// in the pool (`block` null: one is made).
void StreamIo::submit_send_rare(OutputQueue::Node& head, void* block) {
    Op& op = start_send(block ? block : new (::operator new(SmallBlockPool::kBlockSize)) SendState(this));
    if (head.is_file()) {
        op.kind = OpKind::sendfile;
        op.file_fd = head.file_fd;
        op.offset = head.offset;
        op.size = std::size_t(std::min(head.remaining, kMaxFileChunk));
        in_flight_nodes_ = 1;
        backend().submit(op);
        return;
    }
    send_bytes(op, out_.gather(send_->iov, kMaxIov));
}

// `block` (a SendState) becomes the send in flight.
inline StreamIo::Op& StreamIo::start_send(void* block) noexcept {
    send_ = static_cast<SendState*>(block);
    send_->op.io = this;
    send_->op.fd = fd;
    return send_->op;
}

// Everything written this turn leaves in one sendmsg: the `n` iovecs
// filled in send_.
inline void StreamIo::send_bytes(Op& op, int n) {
    in_flight_nodes_ = std::uint8_t(n);
    send_->msg.msg_iovlen = std::size_t(n);
    op.kind = OpKind::send;
    op.msg = &send_->msg;
    backend().submit(op);
}

// The send without an Operation (Backend::send_now) of several blocks:
// nothing in flight, so nothing to pool or to deliver a turn later; on_write
// follows here, at the end of the turn that wrote (never inside write()).
// False: the rest (all of it if the socket is full, what a partial send
// left, or a file segment behind the bytes) goes by an Operation.
bool StreamIo::send_at_once() {
    iovec iov[kMaxIov];
    const int n = out_.gather(iov, kMaxIov);
    const int r = backend().send_now(fd, iov, n);
    return r != -EAGAIN && sent_now(r);
}

// What a send_now() that did go (`r` bytes, or -errno) means: as on_sent().
bool StreamIo::sent_now(int r) {
    if (r < 0) {
        fail(errno_code(-r), Report::write);
        return true;
    }
    sent(std::size_t(r));
    if (phase() >= Phase::closing) {
        maybe_finish();
        return true;
    }
    if (!out_.empty()) return false;
    drained();
    return true;
}

// The common end of a send, on either backend: flush_now() sent all of
// the one block queued, `n` bytes, and nothing ran since. If the stream is
// open with nothing rare going on (every echoed message), what sent() and
// drained() would do, without their tests; false, having done nothing,
// otherwise.
inline bool StreamIo::sent_whole_only_block(std::size_t n) {
    if (!plain_open()) return false;
    drop_only_block(n, output_pool());
    return true;
}

// The only block, all `n` bytes of it sent, goes back to `pool`; then
// on_write. Unwrapped, so that it can be a tail call: on_write is the
// last thing either caller does (on_sent(), flush_now()), and what it
// throws reaches engine.report() through the backend's dispatch or the
// turn's flush loop, as call() would send it there.
inline void StreamIo::drop_only_block(std::size_t n, ChunkPool* pool) {
    out_.clear_only(pool);  // before out_bytes_ changes: GCC cannot tell that it is not the pool's count
    out_bytes_ -= n;
    if (owner) owner->on_write();
}

void StreamIo::end_send() noexcept {
    static_assert(std::is_trivially_destructible_v<SendState>);
    if (detached()) {
        // The engine went first with a sendfile's splice still in flight:
        // its pipe is ours to close.
        for (int& p : send_->op.pipe_fds)
            if (p >= 0) ::close(std::exchange(p, -1));
        ::operator delete(send_);
    } else {
        backend().send_blocks().give(send_);
    }
    send_ = nullptr;
}

void StreamIo::on_sent(Operation& op, const Completion& c) {
    StreamIo& s = *static_cast<Op&>(op).io;
    // Inline, how every echoed message's send ends: its last completion,
    // all of the one block queued sent, the stream open with nothing rare
    // going on, room in both pools. Nothing is called but on_write, last
    // (a tail call), so no frame is made; send_done() does the rest.
    const OutputQueue::Node* head = s.out_.front();
    if (op.in_flight || s.detached() || !head || !s.out_.only(*head) ||
        c.result != int(head->end - head->begin) || !s.plain_open()) [[unlikely]]
        return s.send_done(c);
    Backend& b = s.backend();
    if (!b.send_blocks().has_room() || !b.output_blocks().has_room()) [[unlikely]] return s.send_done(c);
    b.send_blocks().give(std::exchange(s.send_, nullptr));  // before on_write, which may close
    s.drop_only_block(std::size_t(c.result), &b.output_blocks());
}

// on_sent() for anything but the common case.
void StreamIo::send_done(const Completion& c) {
    if (!send_->op.in_flight) end_send();  // done with it: back to the pool before anything else runs
    in_flight_nodes_ = 0;
    if (c.result < 0) {
        if (c.result == -ECANCELED && phase() >= Phase::closing) return maybe_finish();
        return fail(errno_code(-c.result), Report::write);
    }
    sent(std::size_t(c.result));
    if (phase() >= Phase::closing) return maybe_finish();
    if (!out_.empty()) return flush();  // the rest goes now, not next turn
    drained();
}

inline void StreamIo::sent(std::size_t n) {
    out_bytes_ -= std::min(n, out_bytes_);
    if (OutputQueue::Node* head = out_.front(); head && head->is_file()) [[unlikely]]
        sent_file(*head, n);
    else
        out_.consume(n, output_pool());
    // Inline, one test for what only backpressure, a transform or a
    // waiting coroutine needs (none of them, once per message).
    if (write_paused_ || transform() || !writers.empty()) [[unlikely]] sent_rare();
}

void StreamIo::sent_file(OutputQueue::Node& head, std::size_t n) {
    head.offset += n;
    head.remaining -= std::min<std::uint64_t>(n, head.remaining);
    if (n == 0) {  // the file ended early: drop the rest of it
        out_bytes_ -= std::min<std::uint64_t>(head.remaining, out_bytes_);
        head.remaining = 0;
    }
    if (head.remaining == 0) out_.pop_front(output_pool());
}

void StreamIo::sent_rare() {
    if (write_paused_ && out_bytes_ <= (owner ? owner->low_water : 0)) {
        write_paused_ = false;
        update_receive();
    }
    if (StreamTransform* t = transform()) t->output_room();  // a file being encrypted reads on
    if (out_bytes() <= high_water()) writers.resume_all();
}

inline void StreamIo::drained() {
    if (phase() == Phase::ending) return finish_output();
    // A transform's own traffic (a handshake, a session ticket) is not the user's write.
    if (StreamTransform* t = transform(); t && !t->take_user_drain()) return;
    if (owner) call([&] { owner->on_write(); });
}

void StreamIo::drop_output() {
    // Nodes in flight stay until their completion; the rest go now.
    std::size_t keep = send_ ? in_flight_nodes_ : 0;
    out_.drop(keep, output_pool());
    if (keep == 0) out_bytes_ = 0;
}

}  // namespace pants::detail
