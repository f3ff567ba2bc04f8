#include "stream_io.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <new>

#include "scoped_flag.hpp"
#include "socket.hpp"

namespace pants::detail {

StreamIo::StreamIo(Engine& e, Stream* o, int f) : OwnedChannelIo(e, o), StreamReceive(&StreamIo::on_receive) {
    fd = f;
    recv_op_.kind = OpKind::receive;
    if (fd >= 0) {
        connected = true;
        set_phase(Phase::open);
        remember_peer();
    }
}

void StreamIo::remember_peer() noexcept {
    // Now: after a reset the kernel no longer knows it, and on_close may ask.
    if (auto a = detail::remote_address(fd)) peer_.set(*a);
}

StreamIo::Rare& StreamIo::rare() {
    if (!rare_) rare_ = std::make_unique<Rare>(this);
    return *rare_;
}

StreamIo::~StreamIo() {
    out_.drop(0, output_pool());  // warm blocks back to the engine's pool
    if (send_) end_send();        // only when the engine went first
    if (rare_) {
        rare_->deferred_report.cancel();
        rare_->adopted_start.cancel();
        rare_->deferred_pump.cancel();
        rare_->linger_timer.cancel();
    }
}

// --- connecting ------------------------------------------------------------

Result<void> StreamIo::connect(const Address& address) {
    if (closing()) return unexpected(close_error());
    if (connected || connecting()) {
        // A second connect is the caller's mistake, not the connection's
        // end: report it (on a later turn) and keep the connection.
        std::error_code ec = errno_code(connected ? EISCONN : EALREADY);
        rare().deferred_report = engine.callback([this, ec] {
            if (owner) call([&] { owner->on_connect_error(ec); });
        });
        return unexpected(ec);
    }
    auto s = open_socket(address.family(), SOCK_STREAM);
    if (!s) {
        // Nothing reached the kernel; callbacks still learn of it, on a
        // later turn: on_connect_error, then on_close.
        fail_later(s.error(), Report::connect);
        return unexpected(s.error());
    }
    fd = *s;
    peer_.set(address);
    Operation& op = rare().connect_op;
    op.fd = fd;
    op.address = peer_.data();
    op.address_size = peer_.size();
    backend().submit(op);
    return ok();
}

Result<void> StreamIo::begin_connect(PendingConnect& pending) {
    if (closing()) return unexpected(close_error());
    if (connected || connecting()) return pants::fail(connected ? EISCONN : EALREADY);
    rare().pending_connect = &pending;
    return ok();
}

void StreamIo::adopt_connection(int connected_fd, std::error_code error) {
    rare().pending_connect = nullptr;
    if (!error) {
        fd = connected_fd;
        remember_peer();
    }
    connect_done(error);
}

void StreamIo::on_connected(Operation& op, const Completion& c) {
    static_cast<Op&>(op).io->connect_done(c.result < 0 ? errno_code(-c.result) : std::error_code());
}

void StreamIo::connect_done(std::error_code error) {
    // close() during the connect: whatever the kernel says, it is over.
    const bool cancelled = phase() >= Phase::closing;
    if (error || cancelled) {
        std::error_code ec = cancelled ? make_error_code(NetError::closed) : error;
        if (rare_) rare_->connectors.resume_all(ec);
        if (cancelled) return maybe_finish();
        return fail(ec, Report::connect);
    }
    connected = true;
    if (phase() == Phase::idle) set_phase(Phase::open);
    if (is_tcp(fd)) set_nodelay(fd, true);
    update_receive();
    // With a transform (TLS), on_connect waits for its handshake.
    if (StreamTransform* t = transform()) t->start(true);
    else announce_connected();
    engine.queue_flush(*this);  // what was written while connecting; end() goes on from there
}

void StreamIo::announce_connected() {
    if (owner) call([&] { owner->on_connect(); });
    if (rare_) rare_->connectors.resume_all();
}

void StreamIo::set_transform(std::unique_ptr<StreamTransform> transform, bool announce) {
    StreamTransform& t = *(rare().transform = std::move(transform));
    if (!connected) return;  // connect_done() starts it
    t.start(announce);
    update_receive();  // a handshake needs the peer's bytes, whoever reads
    // Bytes that came after the plain-text exchange but before the switch
    // (a STARTTLS peer that did not wait) are the transform's.
    if (!in_.empty() && pending_consume_ == 0 && lent_tail_empty()) {
        std::string early(in_.view());
        in_.clear();
        t.receive(early);
    }
}

Result<Address> StreamIo::local_address() const {
    if (fd >= 0) return detail::local_address(fd);
    if (rare_ && !rare_->closed_local.empty()) return rare_->closed_local.get();
    return pants::fail(ENOTCONN);
}

Result<Address> StreamIo::remote_address() const {
    if (!peer_.empty() && connected) return peer_.get();
    if (fd >= 0 && connected) return detail::remote_address(fd);
    return pants::fail(ENOTCONN);
}

void StreamIo::before_close() noexcept {
    if (StreamTransform* t = transform()) t->closed(close_error());
    // Kept for on_close, which runs after the socket is gone (so only
    // while there is an owner to call it). Out of memory, local_address()
    // in on_close says ENOTCONN instead.
    if (fd < 0 || !connected || !owner) return;
    if (auto a = detail::local_address(fd)) {
        try {
            rare().closed_local.set(*a);
        } catch (const std::bad_alloc&) {
        }
    }
}

// --- lifecycle ---------------------------------------------------------------

bool StreamIo::busy() const noexcept {
    return recv_op_.in_flight || send_ || connecting();
}

void StreamIo::cancel_operations() {
    if (rare_) rare_->linger_timer.cancel();
    if (recv_op_.in_flight) backend().cancel(recv_op_);
    if (send_ && send_->op.in_flight) backend().cancel(send_->op);
    if (rare_ && rare_->connect_op.in_flight) backend().cancel(rare_->connect_op);
    if (rare_ && rare_->pending_connect) rare_->pending_connect->cancel();
}

void StreamIo::begin_end() {
    if (!connected) {
        if (!connecting()) close();  // nothing to send it on
        return;  // else connect_done() flushes, then this goes on
    }
    finish_output();
}

void StreamIo::finish_output() {
    if (phase() != Phase::ending) return;
    // A transform may first have to finish its handshake, then say goodbye
    // (TLS close_notify), which joins the queue.
    if (StreamTransform* t = transform(); t && !t->end()) return;
    if (send_ || !out_.empty()) return engine.queue_flush(*this);
    linger();
}

// Closing a socket with unread data makes the kernel send RST and drop what
// our send queue still holds. So after end() has flushed: shut our side,
// drain (and discard) until the peer closes too, or give up after a while.
void StreamIo::linger() {
    set_phase(Phase::lingering);
    if (fd < 0 || eof_) return close();
    ::shutdown(fd, SHUT_WR);
    update_receive();
    rare().linger_timer = engine.defer(kLingerLimit, [this] { close(); });
}

void StreamIo::report(Report r, std::error_code ec) {
    switch (r) {
    case Report::connect:
        return owner->on_connect_error(ec);
    case Report::read:
        return owner->on_read_error(ec);
    case Report::write:
        return owner->on_write_error(ec);
    case Report::overflow:
        return owner->on_overflow_error(ec);
    case Report::other:
        return owner->on_error(ec);
    }
}


void StreamIo::peer_ended() {
    // The peer closed its side: deliver what is left, then flush our
    // queued writes and close (a half-closed peer still gets them).
    eof_ = true;
    update_receive();  // a transform's end comes while the receive is armed
    pump();
    // A coroutine reader learns of the end from its next read() and
    // decides what to do; callbacks get on_close.
    if (!pull_) end();
}

void StreamIo::transform_failed(std::error_code ec, bool flush) {
    if (!error) error = ec;
    if (rare_) rare_->connectors.resume_all(ec);  // a connect() waiting for the handshake
    if (owner && phase() < Phase::closing) call([&] { owner->on_tls_error(ec); });
    if (!flush || phase() >= Phase::lingering) return close();
    // What the transform queued for the peer (an alert) goes first.
    if (phase() == Phase::ending) return finish_output();
    end();
}

std::error_code StreamIo::reader_close_error() const noexcept {
    return eof_ && !error ? make_error_code(NetError::end_of_stream) : close_error();
}

// --- receiving -----------------------------------------------------------------

bool StreamIo::want_receive() const noexcept {
    if (fd < 0 || !connected) return false;
    switch (phase()) {
    case Phase::ending:
    case Phase::lingering:
        return !eof_;  // drain until the peer closes
    case Phase::open:
        return !eof_ && !user_paused_ && !write_paused_ && !input_paused_;
    default:
        return false;
    }
}

void StreamIo::update_receive() {
    if (detached()) return;
    const bool want = want_receive();
    if (want && !recv_op_.in_flight) {
        recv_op_.fd = fd;
        backend().submit(recv_op_);
    } else if (!want && recv_op_.in_flight && !recv_op_.cancelling && phase() < Phase::closing) {
        backend().cancel(recv_op_);  // its ECANCELED comes back to on_receive
    }
}

void StreamIo::start_receiving() { update_receive(); }

void StreamIo::start_adopted() {
    // As a connect() that succeeded: on_connect first, then on_read. Both on
    // a later turn (the owner's constructor has not finished yet), and in
    // that order: a receive armed now could complete before on_connect.
    rare().adopted_start = engine.callback([this] {
        if (closing() || !owner) return;
        call([&] { owner->on_connect(); });
        update_receive();
    });
}

void StreamIo::pause_reading() {
    user_paused_ = true;
    update_receive();
}

void StreamIo::resume_reading() {
    if (!std::exchange(user_paused_, false)) return;
    update_receive();
    // Frames already buffered go to on_read on a later turn, not inside
    // this call.
    if (!in_.empty()) rare().deferred_pump = engine.callback([this] { pump(); });
}

void StreamIo::on_receive(Operation& op, const Completion& c) {
    // `op` is the first member of a StreamReceive (standard layout), the
    // base of a StreamIo.
    StreamIo& s = static_cast<StreamIo&>(reinterpret_cast<StreamReceive&>(op));
    if (!c.more) return s.receive_ended(c.result);
    // The kernel's buffer goes back to the ring when this returns: by
    // then the bytes are framed or copied into in_.
    std::string_view wire(c.data, std::size_t(c.result));
    // Lingering discards input: a transform has nothing left to do.
    StreamTransform* t = s.transform();
    if (t && s.phase() < Phase::lingering) return t->receive(wire);
    s.take_chunk(wire);
}

// Out of line, so that on_receive() (once per message) keeps no frame for
// what happens once per stream.
[[gnu::noinline]] void StreamIo::receive_ended(int result) {
    if (phase() == Phase::lingering && result != -ECANCELED) return close();  // the peer closed (or failed): done
    if (result == 0) {
        // A transform may call it a truncation (and fail the stream).
        StreamTransform* t = transform();
        if (!t || t->peer_closed()) peer_ended();
    } else if (result == -ECANCELED) {
        // A pause that may have ended meanwhile, or one cancelled before
        // end() began to linger: lingering drains, so it re-arms.
        update_receive();
    } else if (phase() < Phase::lingering) {
        // Also while end() flushes: the send that would fail next (EPIPE)
        // must not be the first word of a reset this receive saw.
        return fail(errno_code(-result), Report::read);
    }
    maybe_finish();
}

void StreamIo::take_chunk(std::string_view chunk) {
    if (!owner || closing()) return;  // ending or lingering: drained, discarded
    // Fast path (every echoed message): no delimiter, so the kernel's
    // buffer is one on_read; then nobody waits: nothing to pump or check.
    if (direct_input() && deliver_whole(chunk)) {
        if (!readers.empty()) settle_input();  // on_read began a read()
        return;
    }
    if (pull_ && in_.empty() && pending_consume_ == 0 && !delivering_) {
        // A coroutine reads (nothing buffered, nothing lent): every message
        // of a coroutine echo. What pump() would do for the first reader,
        // without its loop: in_ holds just the chunk, and with no
        // delimiter that is the frame.
        char* to = in_.prepare(chunk.size()).data();
        std::memcpy(to, chunk.data(), chunk.size());
        in_.commit(chunk.size());
        Stream::ReadAwaiter* r = reader();
        if (!r || r->once_ || input_paused_ || error || !owner->read_delimiter.get().is_none()) return settle_input();
        // The copy is the frame: no need to read in_ back for it.
        r->set_frame(std::string_view(to, chunk.size()));
        pending_consume_ = chunk.size();
        {
            ScopedFlag guard(delivering_);
            readers.resume(*r);  // it may read() again, or hand back to callbacks
        }
        // It wrote, read() again, found nothing and waits (its read() took
        // the frame back): nothing is left to pump, and nothing can
        // overflow or pause (as at the end of take_chunk). Closing, or
        // without an owner, settle_input() would do nothing either.
        if (in_.empty() && !readers.empty() && (!owner || owner->buffer_size > 0 || closing())) return;
        return settle_input();
    }
    buffer_chunk(chunk);
}

// The rest of take_chunk(), out of line so that the fast path keeps a
// small frame.
[[gnu::noinline]] void StreamIo::buffer_chunk(std::string_view chunk) {
    if (direct_input()) {
        // Frame straight from the kernel's buffer; copy only an incomplete
        // tail. All of it framed and nobody waits: nothing to pump or check.
        std::size_t used = deliver_frames(chunk);
        if (closing()) return;
        if (used == chunk.size() && readers.empty()) return;
        in_.append(chunk.substr(used));
    } else if (pending_consume_ > 0) {
        // A read() result still points into in_: don't move it.
        rare().lent_tail.append(chunk);
    } else {
        in_.append(chunk);
    }
    settle_input();
}

void StreamIo::settle_input() {
    if (closing()) return;
    pump();
    // A coroutine that took everything (every echoed message): nothing
    // can overflow or pause (limit >= buffer_size > 0).
    if (unread() == 0 && owner && owner->buffer_size > 0) return;
    check_input();
}

void StreamIo::pump() {
    if (delivering_ || !owner) return;
    for (;;) {
        if (Stream::ReadAwaiter* r = reader()) {
            // A coroutine waits: it gets the next frame.
            if (!try_read(*r)) return;
            ScopedFlag guard(delivering_);
            readers.resume(*r);  // it may read() again, or hand back to callbacks
            continue;
        }
        if (pull_ || closing() || user_paused_ || !owner) return;
        reclaim_lent();
        if (in_.empty()) return;
        in_.consume(deliver_callbacks(in_.view()));
        trim_input();
        if (readers.empty()) return;  // else on_read handed over to a coroutine: serve it
    }
}

std::size_t StreamIo::deliver_callbacks(std::string_view buffered) {
    return deliver_whole(buffered) ? buffered.size() : deliver_frames(buffered);
}

bool StreamIo::deliver_whole(std::string_view buffered) {
    // The common case, without the loop: no delimiter, so the whole of
    // `buffered` is one on_read (what deliver_frames() would do for it).
    if (buffered.empty() || !owner || closing() || pull_ || !readers.empty() || user_paused_ ||
        !owner->read_delimiter.framer().delimiter().is_none())
        return false;
    ScopedFlag guard(delivering_);
    call([&] { owner->on_read(buffered); });
    return true;
}

std::size_t StreamIo::deliver_frames(std::string_view buffered) {
    ScopedFlag guard(delivering_);
    std::size_t used = 0;
    while (owner && !closing() && !pull_ && readers.empty() && !user_paused_) {
        Framer& framer = owner->read_delimiter.framer();
        if (framer.delimiter().is_none()) {
            // No delimiter: the rest is one chunk, and then nothing is left.
            if (used < buffered.size()) {
                std::string_view chunk = buffered.substr(used);
                used = buffered.size();
                call([&] { owner->on_read(chunk); });
            }
            break;
        }
        auto frame = framer.next(buffered.substr(used));
        if (!frame) {
            fail(frame.error(), Report::read);
            break;
        }
        if (!*frame) break;
        if ((*frame)->consumed > read_limit()) {
            fail(make_error_code(NetError::buffer_overflow), Report::overflow);
            break;
        }
        std::string_view data = buffered.substr(used + (*frame)->offset, (*frame)->length);
        used += (*frame)->consumed;
        call([&] { owner->on_read(data); });
    }
    return used;
}

void StreamIo::reclaim_lent() {
    if (pending_consume_ == 0) return;  // nothing lent: nothing to take back
    in_.consume(std::exchange(pending_consume_, 0));
    if (!lent_tail_empty()) {
        InputBuffer& tail = rare_->lent_tail;
        in_.append(tail.view());
        tail.clear();
        if (tail.capacity() > kKeptInputCapacity) tail.release();
    }
    trim_input();
}

Stream::ReadAwaiter* StreamIo::reader() const noexcept { return static_cast<Stream::ReadAwaiter*>(readers.front()); }

std::size_t StreamIo::read_limit() const noexcept {
    if (!owner) return 0;
    // A byte count bigger than buffer_size raises the bound to it (as Pants).
    std::size_t limit = std::max(owner->buffer_size, owner->read_delimiter.get().count());
    if (Stream::ReadAwaiter* r = reader(); r && r->once_) limit = std::max(limit, r->once_->delimiter.count());
    return limit;
}

std::size_t StreamIo::unread() const noexcept { return in_.size() - pending_consume_ + (rare_ ? rare_->lent_tail.size() : 0); }

bool StreamIo::try_read_buffered(Stream::ReadAwaiter& r) {
    reclaim_lent();
    if (!error && owner) {
        if (!r.once_ && owner->read_delimiter.get().is_none()) {
            // No delimiter: whatever is buffered is the frame.
            if (!in_.empty()) return lend(r, in_.view(), in_.size());
        } else {
            if (r.once_) owner->read_delimiter.framer().forget();  // its current frame's bytes are gone
            auto frame = r.once_ ? r.once_->delimiter.next(in_.view(), r.once_->scanned) : owner->read_delimiter.framer().next(in_.view());
            if (!frame) {
                r.set_error(frame.error());
                fail(frame.error(), Report::read);
                return true;
            }
            if (*frame && (*frame)->consumed > read_limit()) {
                r.set_error(make_error_code(NetError::buffer_overflow));
                fail(make_error_code(NetError::buffer_overflow), Report::overflow);
                return true;
            }
            if (*frame) return lend(r, in_.view().substr((*frame)->offset, (*frame)->length), (*frame)->consumed);
        }
    }
    if (eof_ || closing() || error) {
        r.set_error(eof_ && !error ? make_error_code(NetError::end_of_stream) : close_error());
        return true;
    }
    return false;
}

bool StreamIo::lend(Stream::ReadAwaiter& r, std::string_view frame, std::size_t consumed) {
    r.set_frame(frame);
    pending_consume_ = consumed;
    // Room again: the pause for unread input ends at half the limit.
    if (input_paused_ && unread() <= read_limit() / 2) {
        input_paused_ = false;
        update_receive();
    }
    return true;
}

void StreamIo::change_pull(bool pull) {
    pull_ = pull;
    if (pull_) return;
    pump();  // frames already buffered go to on_read now
    if (eof_) return end();  // the peer is gone: callbacks end with on_close
    input_paused_ = false;
    update_receive();
}

void StreamIo::check_input() {
    if (closing() || !owner) return;
    const std::size_t limit = read_limit();
    // No delimiter and under the limit: nothing can overflow or pause.
    if (unread() < limit && owner->read_delimiter.get().is_none()) return;
    const std::string_view waiting = in_.view().substr(pending_consume_);
    if (lent_tail_empty()) {
        // Bytes beside a lent frame wait for the next read(): they only pause.
        const ReadDelimiter& delimiter = owner->read_delimiter.get();
        const auto need = delimiter.required_size(waiting);
        bool overflow = need && *need > limit;
        if (!overflow && waiting.size() > limit) {
            // Whole frames may wait for a read() or a resume_reading(); a
            // partial frame this long can only grow past the limit.
            auto frame = delimiter.next(waiting);
            overflow = !(pull_ || user_paused_) || !frame || !*frame;
        }
        if (overflow) return fail(make_error_code(NetError::buffer_overflow), Report::overflow);
    }
    if ((pull_ || !lent_tail_empty()) && unread() >= limit && !input_paused_) {
        // A coroutine that reads slowly: stop receiving rather than buffer
        // more (the kernel's socket buffer then pushes back on the peer).
        input_paused_ = true;
        update_receive();
    }
}

}  // namespace pants::detail
