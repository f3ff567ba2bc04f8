// net/stream_io.hpp: the I/O state behind a Stream.
//
// Kept apart from the Stream so that it can outlive it: when a Stream is
// destroyed with operations in flight, its StreamIo cancels them and frees
// itself only after the last completion (DESIGN.md, Buffer lifetime).
// The hot path reads top to bottom: on_receive -> take_chunk -> deliver ->
// on_read / a waiting read(); write -> flush (one sendmsg per turn) -> on_sent.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <sys/uio.h>

#include <pants/detail/input_buffer.hpp>
#include <pants/stream.hpp>

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

class StreamIo final : public TurnFlush {
public:
    StreamIo(Engine& engine, Stream* owner, int fd);

    // Lifecycle.
    Result<void> connect(const Address& address);
    /// Someone else connects on this stream's behalf; it ends with one
    /// adopt_connection(). Until then the stream does not finish closing.
    Result<void> begin_connect(PendingConnect& pending);
    /// The end of begin_connect(): `connected_fd` (a connected socket, now
    /// owned by this) when `error` is empty, else the failure.
    void adopt_connection(int connected_fd, std::error_code error);
    void start_receiving();
    void end();
    void close();
    /// The Stream is being destroyed: close and free this when drained.
    void abandon();
    /// Called after on_close (a Server frees its connection here).
    std::function<void()> on_finished;

    // Writing.
    void write(std::string_view data);
    Result<void> write_file(int fd, std::uint64_t offset, std::uint64_t nbytes, bool owns_fd);
    void flush() override;

    // Coroutine reading.
    bool try_read(Stream::ReadAwaiter& r);
    void wait_read(Stream::ReadAwaiter& r);
    void cancel_read(Stream::ReadAwaiter& r);
    /// An awaiter is going away (its frame was destroyed): forget it.
    void drop_waiter(Stream::ReadAwaiter& r) noexcept;
    void drop_waiter(Stream::WriteAwaiter& w) noexcept;
    void set_pull(bool pull);

    Engine& engine;
    Backend& backend;
    Stream* owner;
    int fd;
    bool connected = false;
    bool closing = false;   // close() or end() done: no more reads delivered
    bool finished = false;  // on_close delivered
    std::error_code error;  // why it closed, if it failed
    std::size_t out_bytes = 0;
    Stream::WriteAwaiter* writers = nullptr;  // waiting for room under high_water
    Stream::ConnectAwaiter* connect_waiter = nullptr;
    PendingConnect* pending_connect = nullptr;  // begin_connect() until adopt_connection()

private:
    struct Op : Operation {
        Op(Handler h, StreamIo* s) : Operation(h), io(s) {}
        StreamIo* io;
    };
    struct Segment {
        std::string bytes;
        std::size_t sent = 0;       // bytes of `bytes` already sent
        int file_fd = -1;           // a write_file() segment when >= 0
        bool owns_fd = false;
        std::uint64_t offset = 0;
        std::uint64_t remaining = 0;
    };
    static constexpr int kMaxIov = 16;

    /// A FIFO of segments over one vector that keeps its capacity (a deque
    /// would allocate and free blocks as the queue moves: not on this path).
    class SegmentQueue {
    public:
        bool empty() const noexcept { return head_ == items_.size(); }
        std::size_t size() const noexcept { return items_.size() - head_; }
        Segment& front() noexcept { return items_[head_]; }
        Segment& back() noexcept { return items_.back(); }
        auto begin() noexcept { return items_.begin() + std::ptrdiff_t(head_); }
        auto end() noexcept { return items_.end(); }
        Segment& emplace_back() { return items_.emplace_back(); }
        void pop_back() { items_.pop_back(); }
        void pop_front() {
            if (++head_ == items_.size()) {
                items_.clear();
                head_ = 0;
            } else if (head_ > 32 && head_ * 2 > items_.size()) {
                items_.erase(items_.begin(), items_.begin() + std::ptrdiff_t(head_));
                head_ = 0;
            }
        }

    private:
        std::vector<Segment> items_;
        std::size_t head_ = 0;
    };

    static void on_receive(Operation& op, const Completion& c);
    static void on_sent(Operation& op, const Completion& c);
    static void on_connected(Operation& op, const Completion& c);
    void connect_done(std::error_code error);

    void take_chunk(std::string_view chunk);
    std::size_t deliver_callbacks(std::string_view buffered);
    void pump();
    void linger();
    void reclaim_lent();
    std::size_t owner_buffer_size() const noexcept;
    void check_overflow();
    void fail(std::error_code ec, void (Stream::*callback)(std::error_code));
    void sent(std::size_t n);
    void drained();
    void wake_writers();
    void maybe_finish();
    void notify_closed();
    void drop_queue();
    Segment& tail_for_bytes();

    Op recv_op_{&StreamIo::on_receive, this};
    Op send_op_{&StreamIo::on_sent, this};
    Op connect_op_{&StreamIo::on_connected, this};

    // Reading.
    InputBuffer in_;
    bool pull_ = false;          // a coroutine reads: data waits for read()
    bool paused_ = false;        // receive cancelled for backpressure
    bool delivering_ = false;
    bool eof_ = false;
    std::size_t pending_consume_ = 0;  // the frame a read() still holds a view of
    Stream::ReadAwaiter* reader_ = nullptr;

    // Writing.
    SegmentQueue out_;
    std::vector<std::string> spare_;
    std::size_t in_flight_segments_ = 0;
    iovec iov_[kMaxIov];
    msghdr msg_{};
    bool ending_ = false;

    Address peer_;
    bool finish_scheduled_ = false;
    bool notifying_ = false;   // inside notify_closed()
    bool lingering_ = false;   // ended and flushed: draining until the peer closes
    Timer linger_timer_;
    static constexpr auto kLingerLimit = std::chrono::seconds(3);
    InputBuffer lent_tail_;    // bytes that arrived while a read() result was lent
};

}  // namespace pants::detail
