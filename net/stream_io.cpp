#include "stream_io.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "socket.hpp"
#include "scoped_flag.hpp"

namespace pants::detail {
namespace {


// sendfile and splice move at most this much per operation.
constexpr std::uint64_t kMaxFileChunk = 1u << 30;


}  // namespace

StreamIo::StreamIo(Engine& e, Stream* o, int f) : engine(e), backend(e.backend()), owner(o), fd(f) {
    recv_op_.kind = OpKind::receive;
    send_op_.kind = OpKind::send;
    connect_op_.kind = OpKind::connect;
    msg_.msg_iov = iov_;
    if (fd >= 0) connected = true;
}

// --- lifecycle ---------------------------------------------------------

Result<void> StreamIo::connect(const Address& address) {
    if (closing || fd >= 0 || pending_connect) return pants::fail(EISCONN);
    auto s = open_socket(address.family(), SOCK_STREAM);
    if (!s) return unexpected(s.error());
    fd = *s;
    peer_ = address;
    connect_op_.fd = fd;
    connect_op_.address = peer_.data();
    connect_op_.address_size = peer_.size();
    backend.submit(connect_op_);
    return ok();
}

Result<void> StreamIo::begin_connect(PendingConnect& pending) {
    if (closing || fd >= 0 || pending_connect || connect_op_.in_flight) return pants::fail(EISCONN);
    pending_connect = &pending;
    return ok();
}

void StreamIo::adopt_connection(int connected_fd, std::error_code error) {
    pending_connect = nullptr;
    if (!error) fd = connected_fd;
    connect_done(error);
}

void StreamIo::on_connected(Operation& op, const Completion& c) {
    StreamIo& s = *static_cast<Op&>(op).io;
    s.connect_done(c.result < 0 ? errno_code(-c.result) : std::error_code());
}

void StreamIo::connect_done(std::error_code error) {
    StreamIo& s = *this;
    auto* waiter = std::exchange(s.connect_waiter, nullptr);
    // close() during the connect: whatever the kernel says, it is over.
    const bool cancelled = s.closing && !s.ending_;
    if (error || cancelled) {
        std::error_code ec = cancelled ? make_error_code(NetError::closed) : error;
        if (waiter) waiter->result_ = unexpected(ec);
        s.ending_ = false;  // end() before a failed connect: nothing will drain
        if (cancelled)
            s.maybe_finish();
        else
            s.fail(ec, &Stream::on_connect_error);
    } else {
        s.connected = true;
        if (is_tcp(s.fd)) set_nodelay(s.fd, true);
        s.start_receiving();
        if (s.owner) s.owner->on_connect();
        s.engine.queue_flush(s);
    }
    if (waiter) {
        if (waiter->cancel_) waiter->cancel_->clear();
        waiter->waiter_.resume();
    }
}

std::size_t StreamIo::owner_buffer_size() const noexcept { return owner ? owner->buffer_size : 0; }

void StreamIo::start_receiving() {
    if (closing || recv_op_.in_flight || fd < 0) return;
    paused_ = false;
    recv_op_.fd = fd;
    backend.submit(recv_op_);
}

void StreamIo::end() {
    if (closing) return;
    closing = true;  // no more reads are delivered; the receive keeps draining
    ending_ = true;
    if (!send_op_.in_flight && out_.empty() && connected) return linger();
    engine.queue_flush(*this);
}

// Closing a socket with unread data makes the kernel send RST and drop what
// our send queue still holds. So after end() has flushed: shut our side,
// drain (and discard) until the peer closes too, or give up after a while.
void StreamIo::linger() {
    ending_ = false;
    if (fd < 0 || !recv_op_.in_flight) return close();
    ::shutdown(fd, SHUT_WR);
    lingering_ = true;
    linger_timer_ = engine.defer(kLingerLimit, [this] { close(); });
}

void StreamIo::close() {
    if (finish_scheduled_ || finished) return;
    closing = true;
    ending_ = false;
    lingering_ = false;
    linger_timer_.cancel();
    drop_queue();
    for (Operation* op : {static_cast<Operation*>(&recv_op_), static_cast<Operation*>(&send_op_),
                          static_cast<Operation*>(&connect_op_)})
        if (op->in_flight) backend.cancel(*op);
    if (pending_connect) pending_connect->cancel();
    maybe_finish();
}

void StreamIo::abandon() {
    owner = nullptr;
    // A server's registry forgets this stream now, not at on_close.
    if (auto f = std::move(on_finished)) f();
    if (notifying_) return;  // notify_closed() frees this when it is done
    if (finished) {
        delete this;
        return;
    }
    if (ending_) return;  // end() still flushes, then closes and frees this
    engine.cancel_flush(*this);
    close();
}

void StreamIo::maybe_finish() {
    if (!closing || ending_ || finish_scheduled_ || recv_op_.in_flight || send_op_.in_flight ||
        connect_op_.in_flight || pending_connect)
        return;
    finish_scheduled_ = true;
    engine.cancel_flush(*this);
    if (fd >= 0) backend.close(std::exchange(fd, -1));
    drop_queue();
    // on_close runs on a later turn, never inside the caller's close().
    engine.callback([this] { notify_closed(); });
}

void StreamIo::notify_closed() {
    finished = true;
    // Resumed coroutines and callbacks below may destroy the Stream; then
    // abandon() leaves the freeing to the end of this function.
    ScopedFlag guard(notifying_);
    std::error_code why = error ? error : make_error_code(NetError::closed);
    if (auto* r = std::exchange(reader_, nullptr)) {
        r->result_ = unexpected(eof_ && !error ? make_error_code(NetError::end_of_stream) : why);
        if (r->cancel_) r->cancel_->clear();
        r->waiter_.resume();
    }
    wake_writers();
    if (owner) owner->on_close();
    if (auto f = std::move(on_finished)) f();
    guard.release();
    if (!owner) delete this;
}

void StreamIo::fail(std::error_code ec, void (Stream::*callback)(std::error_code)) {
    if (!error) error = ec;
    if (owner) (owner->*callback)(ec);
    close();
}

// --- reading -------------------------------------------------------------

void StreamIo::on_receive(Operation& op, const Completion& c) {
    StreamIo& s = *static_cast<Op&>(op).io;
    if (c.more) {
        // The kernel's buffer goes back to the ring as soon as the bytes
        // are framed or copied into in_ (or an on_read throws).
        BufferLoan loan(s.backend, c);
        if (!s.closing) s.take_chunk(std::string_view(c.data, std::size_t(c.result)));
        return;
    }
    if (s.lingering_) return s.close();  // the peer closed (or failed): done
    if (c.result == 0) {
        // The peer closed its side: deliver what is left, then flush our
        // queued writes and close (a half-closed peer still gets them).
        s.eof_ = true;
        s.pump();
        // A coroutine reader learns of the end from its next read() and
        // decides what to do; callbacks get on_close.
        if (!s.pull_) s.end();
    } else if (c.result == -ECANCELED) {
        if (!s.closing && s.paused_) {
            // A backpressure pause ended. If the reader caught up while the
            // cancel was in flight, nobody else will re-arm: do it here.
            if (s.reader_ || s.in_.size() - s.pending_consume_ < s.owner_buffer_size() / 2) s.start_receiving();
            return;
        }
    } else if (!s.closing) {
        s.fail(errno_code(-c.result), &Stream::on_read_error);
    }
    s.maybe_finish();
}

void StreamIo::take_chunk(std::string_view chunk) {
    if (!owner) return;
    if (!pull_ && !reader_ && in_.empty() && !delivering_) {
        // Fast path: frame straight from the kernel's buffer; copy only an
        // incomplete tail.
        std::size_t used = deliver_callbacks(chunk);
        if (!closing) in_.append(chunk.substr(used));
    } else if (pending_consume_ > 0) {
        // A read() result still points into in_: don't move it.
        lent_tail_.append(chunk);
    } else {
        in_.append(chunk);
    }
    if (closing) return;
    pump();
    check_overflow();
}

void StreamIo::pump() {
    if (delivering_ || !owner) return;
    while (!closing || reader_) {
        if (Stream::ReadAwaiter* r = reader_) {
            // A coroutine waits: it gets the next frame.
            if (!try_read(*r)) return;
            reader_ = nullptr;
            if (r->cancel_) r->cancel_->clear();
            ScopedFlag guard(delivering_);
            r->waiter_.resume();  // it may read() again (registers) or hand back to callbacks
            continue;
        }
        if (pull_) return;
        reclaim_lent();
        if (in_.empty()) return;
        in_.consume(deliver_callbacks(in_.view()));
        if (!reader_) return;  // on_read handed the stream to a coroutine: serve it
    }
}

std::size_t StreamIo::deliver_callbacks(std::string_view buffered) {
    ScopedFlag guard(delivering_);
    std::size_t used = 0;
    Framer& framer = owner->read_delimiter.framer();
    while (owner && !closing && !pull_ && !reader_) {
        if (framer.delimiter().is_none()) {
            if (used == buffered.size()) break;
            std::string_view chunk = buffered.substr(used);
            used = buffered.size();
            owner->on_read(chunk);
            continue;
        }
        auto frame = framer.next(buffered.substr(used));
        if (!frame) {
            fail(frame.error(), &Stream::on_read_error);
            break;
        }
        if (!*frame) break;
        std::string_view data = buffered.substr(used + (*frame)->offset, (*frame)->length);
        used += (*frame)->consumed;
        owner->on_read(data);
    }
    return used;
}

void StreamIo::reclaim_lent() {
    in_.consume(std::exchange(pending_consume_, 0));
    if (!lent_tail_.empty()) {
        in_.append(lent_tail_.view());
        lent_tail_.clear();
    }
}

bool StreamIo::try_read(Stream::ReadAwaiter& r) {
    reclaim_lent();
    if (!error) {
        auto frame = r.once_ ? r.once_->next(in_.view(), r.scanned_)
                             : owner->read_delimiter.framer().next(in_.view());
        if (!frame) {
            r.result_ = unexpected(frame.error());
            fail(frame.error(), &Stream::on_read_error);
            return true;
        }
        if (*frame) {
            r.result_ = in_.view().substr((*frame)->offset, (*frame)->length);
            pending_consume_ = (*frame)->consumed;
            if (paused_ && in_.size() - pending_consume_ < owner->buffer_size / 2) start_receiving();
            return true;
        }
        bool none = r.once_ ? false : owner->read_delimiter.get().is_none();
        if (none && !in_.empty()) {
            r.result_ = in_.view();
            pending_consume_ = in_.size();
            if (paused_) start_receiving();
            return true;
        }
    }
    if (eof_ || closing || error) {
        r.result_ = unexpected(error ? error : eof_ ? make_error_code(NetError::end_of_stream)
                                               : make_error_code(NetError::closed));
        return true;
    }
    return false;
}

void StreamIo::wait_read(Stream::ReadAwaiter& r) {
    reader_ = &r;
    if (!recv_op_.in_flight && !closing && connected) start_receiving();
}

void StreamIo::drop_waiter(Stream::ReadAwaiter& r) noexcept {
    if (reader_ == &r) reader_ = nullptr;
}

void StreamIo::drop_waiter(Stream::WriteAwaiter& w) noexcept {
    for (Stream::WriteAwaiter** p = &writers; *p; p = &(*p)->next_)
        if (*p == &w) {
            *p = w.next_;
            return;
        }
}

void StreamIo::cancel_read(Stream::ReadAwaiter& r) {
    if (reader_ != &r) return;
    reader_ = nullptr;
    r.result_ = unexpected(errno_code(ECANCELED));
    // Resume on the next turn, never inside the canceller's call.
    engine.callback([&r] { r.waiter_.resume(); });
}

void StreamIo::set_pull(bool pull) {
    pull_ = pull;
    if (pull_) return;
    pump();  // frames already buffered go to on_read now
    if (eof_) return end();  // the peer is gone: callbacks end with on_close
    if (paused_ && !recv_op_.in_flight) start_receiving();  // and the pause ends
}

void StreamIo::check_overflow() {
    if (closing || !owner) return;
    const std::size_t limit = owner->buffer_size;
    const std::string_view waiting = in_.view().substr(pending_consume_);
    if (!lent_tail_.empty()) {
        // Bytes wait beside a lent frame until the next read(): only pause.
        if (waiting.size() + lent_tail_.size() >= limit && !paused_ && recv_op_.in_flight) {
            paused_ = true;
            backend.cancel(recv_op_);
        }
        return;
    }
    const auto need = owner->read_delimiter.framer().required_size(waiting);
    if (need && *need > limit) return fail(make_error_code(NetError::buffer_overflow), &Stream::on_overflow_error);
    if (pull_) {
        // A coroutine that reads slowly: stop receiving rather than buffer
        // more (the kernel's socket buffer then pushes back on the peer).
        if (waiting.size() >= limit && !paused_ && recv_op_.in_flight) {
            paused_ = true;
            backend.cancel(recv_op_);
        }
        if (waiting.size() <= limit) return;
        auto frame = owner->read_delimiter.get().next(waiting);
        if (frame && *frame) return;  // complete frames wait for read()
    } else if (waiting.size() <= limit) {
        return;
    }
    fail(make_error_code(NetError::buffer_overflow), &Stream::on_overflow_error);
}

// --- writing ---------------------------------------------------------------

StreamIo::Segment& StreamIo::tail_for_bytes() {
    if (out_.empty() || out_.back().file_fd >= 0 || out_.size() <= in_flight_segments_) {
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
    if (closing || data.empty()) return;
    tail_for_bytes().bytes.append(data);
    out_bytes += data.size();
    engine.queue_flush(*this);
}

Result<void> StreamIo::write_file(int file, std::uint64_t offset, std::uint64_t nbytes, bool owns_fd) {
    if (closing) return pants::fail(EPIPE);
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
    out_bytes += nbytes;
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
        if (c.result == -ECANCELED && s.closing) return s.maybe_finish();
        return s.fail(errno_code(-c.result), &Stream::on_write_error);
    }
    s.sent(std::size_t(c.result));
    if (s.closing && !s.ending_) return s.maybe_finish();
    if (!s.out_.empty()) return s.flush();  // the rest goes now, not next turn
    s.drained();
}

void StreamIo::sent(std::size_t n) {
    out_bytes -= std::min(n, out_bytes);
    while (!out_.empty()) {
        Segment& seg = out_.front();
        if (seg.file_fd >= 0) {
            seg.offset += n;
            seg.remaining -= std::min<std::uint64_t>(n, seg.remaining);
            if (n == 0) {  // the file ended early: drop the rest of it
                out_bytes -= std::min<std::uint64_t>(seg.remaining, out_bytes);
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
        spare_.push_back(std::move(seg.bytes));
        out_.pop_front();
        if (n == 0) break;
    }
    if (out_bytes <= (owner ? owner->high_water : 0)) wake_writers();
}

void StreamIo::drained() {
    if (ending_) return linger();
    if (owner) owner->on_write();
}

void StreamIo::wake_writers() {
    // Take the list first: a writer resumed here may write and wait again,
    // and must then wait for the next drain, not be resumed by this loop.
    Stream::WriteAwaiter* list = std::exchange(writers, nullptr);
    while (Stream::WriteAwaiter* w = list) {
        list = w->next_;
        w->next_ = nullptr;
        if (w->cancel_) w->cancel_->clear();
        w->waiter_.resume();
    }
}

void StreamIo::drop_queue() {
    // Segments in flight stay until their completion; the rest go now.
    std::size_t keep = send_op_.in_flight ? in_flight_segments_ : 0;
    while (out_.size() > keep) {
        Segment& seg = out_.back();
        if (seg.owns_fd && seg.file_fd >= 0) ::close(seg.file_fd);
        out_.pop_back();
    }
    if (keep == 0) out_bytes = 0;
}

}  // namespace pants::detail
