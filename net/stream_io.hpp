// net/stream_io.hpp: the I/O state behind a Stream.
//
// A ChannelIo (see channel_io.hpp for the lifecycle it shares with every
// channel) plus what a byte stream adds: connecting, framing, the write
// queue, backpressure and lingering after end().
// The hot path reads top to bottom: on_receive -> take_chunk ->
// deliver_whole -> on_read, or a waiting read() (buffer_chunk and the
// framer otherwise); write -> flush (one sendmsg per turn) -> on_sent
// (stream_output.cpp).
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <sys/uio.h>

#include <pants/detail/input_buffer.hpp>
#include <pants/stream.hpp>

#include "channel_io.hpp"
#include "output_queue.hpp"
#include "saved_address.hpp"
#include "stream_transform.hpp"

namespace pants::detail {

/// A connect that happens outside the StreamIo (Client's Happy Eyeballs
/// race over several sockets). close() calls cancel(), which must answer
/// with adopt_connection() on a later turn, never inside close().
class PendingConnect {
public:
    virtual void cancel() noexcept = 0;

protected:
    ~PendingConnect() = default;
};

/// The receive operation every stream embeds, in a base of its own: a
/// standard-layout struct whose first member it is, so on_receive finds
/// its StreamIo from the operation alone (no back-pointer per stream).
struct StreamReceive {
    explicit StreamReceive(Operation::Handler h) noexcept : recv_op_(h) {}
    Operation recv_op_;
};
static_assert(std::is_standard_layout_v<StreamReceive>);

class StreamIo final : public OwnedChannelIo<Stream>, private StreamReceive {
public:
    StreamIo(Engine& engine, Stream* owner, int fd);
    ~StreamIo() override;

    bool connected = false;

private:
    // Declared here to share connected's 8-byte slot (an idle connection's
    // size is what a server with many connections pays for).
    bool pull_ = false;  // a coroutine reads: data waits for read()
    bool delivering_ = false;
    bool eof_ = false;
    // Why the receive is not armed: the user paused, the write queue is
    // above high_water, or unread input reached the read limit.
    bool user_paused_ = false;
    bool write_paused_ = false;
    bool input_paused_ = false;
    // Front output nodes the send in flight points at (at most kMaxIov);
    // meaningful only while send_ is set.
    std::uint8_t in_flight_nodes_ = 0;

public:
    /// co_await connect() waits here.
    WaitList& connectors() { return rare().connectors; }
    /// co_await handshake() waits here; the transform resumes them.
    WaitList& handshakers() { return rare().handshakers; }
    /// The handshake waiters, if anyone ever waited (null: nobody did).
    WaitList* handshake_waiters() noexcept { return rare_ ? &rare_->handshakers : nullptr; }

    // Connecting.
    Result<void> connect(const Address& address);
    /// Someone else connects on this stream's behalf; it ends with one
    /// adopt_connection(). Until then the stream does not finish closing.
    Result<void> begin_connect(PendingConnect& pending);
    /// The end of begin_connect(): `connected_fd` (a connected socket, now
    /// owned by this) when `error` is empty, else the failure.
    void adopt_connection(int connected_fd, std::error_code error);
    bool connecting() const noexcept { return rare_ && (rare_->connect_op.in_flight || rare_->pending_connect); }
    Result<Address> local_address() const;
    Result<Address> remote_address() const;

    // Reading.
    /// Arms the receive (a Server calls it once the connection is set up).
    void start_receiving();
    /// A socket the user adopted: on_connect, then receiving, next turn.
    void start_adopted();
    void pause_reading();
    void resume_reading();
    bool reading_paused() const noexcept { return user_paused_; }
    /// A frame for `r` if one is buffered (then true, its result set), or
    /// an error or the end (true); false: `r` has to wait.
    bool try_read(Stream::ReadAwaiter& r) {
        // Inline, what every read() meets in steady state, with no
        // delimiter to ask and the stream open: nothing came after the
        // frame the last read() held (its bytes are dropped and `r`
        // waits), or bytes came and nothing is lent (they are the frame).
        if (!r.once_ && lent_tail_empty() && !error && owner && !closing() &&
            owner->read_delimiter.get().is_none()) {
            if (in_.size() == pending_consume_) {
                if (!eof_) {
                    in_.clear();
                    pending_consume_ = 0;
                    trim_input();
                    return false;
                }
            } else if (pending_consume_ == 0 && !input_paused_) {
                r.set_frame(in_.view());
                pending_consume_ = in_.size();
                return true;
            }
        }
        return try_read_buffered(r);
    }
    /// What a read() meets in steady state, without a call: a coroutine
    /// already reads, no delimiter, the stream open and receiving, nothing
    /// came after the frame the last read() held (dropped now) and no
    /// cancel pending: `r` waits in `readers` (true). False, having done
    /// nothing: try_read() and the rest of ReadAwaiter::suspend decide.
    bool wait_read_at_once(Stream::ReadAwaiter& r, std::coroutine_handle<> h, CancelState* cancel) noexcept {
        if (!pull_ || r.once_ || !lent_tail_empty() || error || !owner || closing() || eof_ || input_paused_ ||
            !recv_op_.in_flight || in_.size() != pending_consume_ || in_.capacity() > kKeptInputCapacity ||
            (cancel && cancel->requested()) || !owner->read_delimiter.get().is_none())
            return false;
        in_.clear();
        pending_consume_ = 0;
        return r.wait(readers, h, cancel);
    }
    /// A read() found no frame and now waits in `readers`.
    void wait_read() {
        // No whole frame is buffered: a pause for unread input would wait
        // forever (more bytes past the limit are an overflow, reported
        // then). Not paused and armed (every read in steady state, so
        // inline): nothing changes.
        if (!std::exchange(input_paused_, false) && recv_op_.in_flight) return;
        update_receive();
    }
    void set_pull(bool pull) {
        if (pull != pull_) change_pull(pull);  // inline: every read() asks
    }

    // Writing (stream_output.cpp).
    void write(std::string_view data) {
        // Inline: Stream::write's whole body, once per message. Only a
        // Stream writes here, so the owner is there.
        // Stream::write_room_ says whether a co_await has anything to wait
        // for; only the plain path (queue_output) knows that it has not.
        if (closing() || data.empty() || transform()) return write_rare(data);
        const std::size_t cap = owner->max_write_buffer;
        // A peer that never reads must not grow us without bound.
        if (cap && out_bytes_ + data.size() > cap) return write_buffer_full();
        queue_output(data, &owner->write_room_);
    }
    Result<void> write_file(int fd, std::uint64_t offset, std::uint64_t nbytes, bool owns_fd);
    void flush() override;
    std::size_t out_bytes() const noexcept {
        StreamTransform* t = transform();
        return out_bytes_ + (t ? t->pending() : 0);
    }
    std::size_t high_water() const noexcept { return owner ? owner->high_water : 1 << 20; }

    // A transform between the stream and its socket (TLS; see
    // stream_transform.hpp). Set once; it starts now if connected (with
    // `announce` as given), else when the connect completes (announcing).
    void set_transform(std::unique_ptr<StreamTransform> transform, bool announce);
    StreamTransform* transform() const noexcept { return rare_ ? rare_->transform.get() : nullptr; }
    /// Plain bytes from the transform, framed and delivered as if received.
    void receive_plain(std::string_view data) { take_chunk(data); }
    /// Bytes from the transform for the socket, in the batched send.
    void send_wire(std::string_view data) { queue_output(data); }
    /// Bytes in the send queue (a transform's output; out_bytes() adds
    /// what the transform still holds).
    std::size_t wire_bytes() const noexcept { return out_bytes_; }
    /// The transform could not produce queued output (a write_file() read
    /// failed): on_write_error, then close, on a later turn.
    void output_failed(std::error_code ec) { fail_later(ec, Report::write); }
    /// The peer ended the stream inside the transform (TLS close_notify).
    void peer_ended();
    /// on_connect, then a waiting connect() resumes.
    void announce_connected();
    /// end() goes on once the transform can end (see StreamTransform::end).
    void finish_output();
    /// The transform failed: on_tls_error, then close (after sending what
    /// it queued for the peer, such as an alert, when `flush`).
    void transform_failed(std::error_code ec, bool flush);
    /// Runs user code as the channel does (exceptions to the engine).
    template <class F>
    void call_user(F&& f) noexcept {
        call(std::forward<F>(f));
    }

private:
    struct Op : Operation {
        Op(Handler h, StreamIo* s) : Operation(h), io(s) {}
        StreamIo* io;
    };
    static constexpr int kMaxIov = 16;  // fits in_flight_nodes_
    // A send in flight: taken from the engine's small blocks when a send
    // starts and given back when it completes, so an idle stream holds
    // none of it (the iovecs alone are 256 bytes).
    struct SendState {
        explicit SendState(StreamIo* s) noexcept : op(&StreamIo::on_sent, s) { msg.msg_iov = iov; }
        Op op;
        msghdr msg{};
        iovec iov[kMaxIov];
    };
    // The pool's link at the end of a free block leaves a SendState alone.
    static_assert(sizeof(SendState) <= SmallBlockPool::kBlockSize - SmallBlockPool::kLinkSize);
    // What only some streams ever need (connecting, awaiting a connect or
    // a handshake, resuming a paused read, lingering after end()), made on
    // first use: an idle accepted connection never does.
    struct Rare {
        explicit Rare(StreamIo* s) : connect_op(&StreamIo::on_connected, s), connectors(s->engine), handshakers(s->engine) {
            connect_op.kind = OpKind::connect;
        }
        Op connect_op;
        PendingConnect* pending_connect = nullptr;  // begin_connect() until adopt_connection()
        WaitList connectors;
        WaitList handshakers;
        Timer deferred_report;  // a misused connect()'s error, on a later turn
        Timer adopted_start;    // start_adopted()'s on_connect, on a later turn
        Timer deferred_pump;    // resume_reading()'s delivery, on a later turn
        Timer linger_timer;     // end()'s wait for the peer to close
        // Bytes that arrived while a read() result was lent (only
        // coroutine readers lend).
        InputBuffer lent_tail;
        // The local address, kept at close for on_close (the socket is
        // gone by then); asked of the socket before that.
        SavedAddress closed_local;
        std::unique_ptr<StreamTransform> transform;  // TLS, when started
    };
    Rare& rare();

    // ChannelIo.
    bool busy() const noexcept override;
    void cancel_operations() override;
    void drop_output() override;
    void begin_end() override;
    void report(Report report, std::error_code ec) override;
    void before_close() noexcept override;
    std::error_code reader_close_error() const noexcept override;

    static void on_receive(Operation& op, const Completion& c);
    /// The receive's last completion: the end of the stream, an error, or a cancel.
    void receive_ended(int result);
    static void on_sent(Operation& op, const Completion& c);
    static void on_connected(Operation& op, const Completion& c);
    void connect_done(std::error_code error);
    void remember_peer() noexcept;

    // Reading.
    void take_chunk(std::string_view chunk);
    void buffer_chunk(std::string_view chunk);
    /// Input may go from the kernel's buffer straight to on_read: callbacks
    /// read, nothing is buffered or being delivered, not paused.
    bool direct_input() const noexcept {
        return !pull_ && readers.empty() && in_.empty() && !delivering_ && !user_paused_;
    }
    /// After input was taken: frames to waiting readers, then the limits.
    void settle_input();
    inline std::size_t deliver_callbacks(std::string_view buffered);
    /// With no delimiter and callbacks reading, all of `buffered` as one
    /// on_read (true); false, having done nothing, otherwise.
    inline bool deliver_whole(std::string_view buffered);
    std::size_t deliver_frames(std::string_view buffered);
    void pump();
    void linger();
    void reclaim_lent();
    /// Gives back a large input buffer once emptied (see kKeptInputCapacity).
    void trim_input() noexcept {
        // Never while a read() result points into it.
        if (in_.empty() && pending_consume_ == 0 && in_.capacity() > kKeptInputCapacity) in_.release();
    }
    std::size_t read_limit() const noexcept;
    std::size_t unread() const noexcept;
    void check_input();
    bool want_receive() const noexcept;
    void update_receive();
    Stream::ReadAwaiter* reader() const noexcept;
    bool try_read_buffered(Stream::ReadAwaiter& r);
    void change_pull(bool pull);
    /// try_read() found `frame`: it goes to `r`, and the `consumed` bytes
    /// stay in in_ until the next read.
    bool lend(Stream::ReadAwaiter& r, std::string_view frame, std::size_t consumed);

    // Writing.
    bool send_at_once();
    bool sent_now(int r);
    inline bool sent_whole_only_block(std::size_t n);
    inline void drop_only_block(std::size_t n, ChunkPool* pool);
    /// Open, and no backpressure, transform or waiting writer to consider.
    bool plain_open() const noexcept {
        return phase() == Phase::open && !write_paused_ && !transform() && writers.empty();
    }
    void send_done(const Completion& c);
    /// flush() on epoll (Backend::send_now).
    void flush_now();
    inline void submit_send(OutputQueue::Node& head);
    void submit_send_rare(OutputQueue::Node& head, void* block);
    inline Op& start_send(void* block) noexcept;
    inline void send_bytes(Op& op, int n);
    void end_send() noexcept;
    /// Copies `data` to the send queue, which the turn's flush sends; sets
    /// `*room` (if given) to whether the queue is at or under high_water.
    void queue_output(std::string_view data, bool* room = nullptr) {
        // Inline: once per message. No call but the copy, which comes last
        // as a tail call, so that no frame is made around it; whatever
        // needs a call (a new block, the high-water mark) goes to
        // queue_output_rare(). *room is stored as a constant, after the
        // flags are read: no register to keep, nothing to read again.
        out_bytes_ += data.size();
        char* to = out_.reserve(data.size(), output_pool());
        if (!to || (owner && out_bytes_ > owner->high_water)) [[unlikely]]
            return queue_output_rare(data, to, room);
        if (room) *room = true;
        engine.queue_flush(*this);
        std::memcpy(to, data.data(), data.size());
    }
    /// The rest of queue_output(): `to` is what reserve() gave (null: the
    /// bytes still have to be appended).
    void queue_output_rare(std::string_view data, char* to, bool* room);
    void check_high_water();
    /// write() on a closing stream, of nothing, or through a transform.
    void write_rare(std::string_view data);
    void write_buffer_full();
    inline void sent(std::size_t n);
    void sent_file(OutputQueue::Node& head, std::size_t n);
    void sent_rare();
    inline void drained();
    /// Where emptied output blocks go: the engine's pool, or the heap once
    /// the engine is gone.
    ChunkPool* output_pool() noexcept { return detached() ? nullptr : &backend().output_blocks(); }

    SendState* send_ = nullptr;  // while a send is in flight
    std::unique_ptr<Rare> rare_;

    // Reading.
    InputBuffer in_;
    bool lent_tail_empty() const noexcept { return !rare_ || rare_->lent_tail.empty(); }
    std::size_t pending_consume_ = 0;  // the frame a read() still holds a view of

    // Writing.
    OutputQueue out_;
    std::size_t out_bytes_ = 0;

    SavedAddress peer_;
    static constexpr auto kLingerLimit = std::chrono::seconds(3);
    // An emptied input buffer up to this size is kept for the next
    // message (no allocation per message); a larger one, left by a burst,
    // is freed, so an idle connection holds no buffer worth counting.
    static constexpr std::size_t kKeptInputCapacity = 4096;
};

}  // namespace pants::detail
