// pants/stream.hpp: a connected byte stream (TCP or Unix), with Pants'
// callbacks and co_await adapters on the same object.
//
// Override the on_* callbacks (as Pants' Connection subclasses do), or
// co_await read()/write() from a coroutine, or mix: frames go to a waiting
// read() if there is one, otherwise to on_read(), until a coroutine has
// called read(): from then on, data waits in the buffer for the next read()
// (call callbacks() to hand the stream back to on_read()).
//
// read_delimiter decides what one frame is, for both styles. write() never
// blocks and never drops data; when more than high_water bytes are queued,
// the stream stops reading until the queue drains to low_water (callbacks
// and coroutines alike), and past max_write_buffer it fails.
//
// Ending a stream, in one place:
//   end()      sends everything queued, shuts down our side, drains what
//              the peer still sends until it closes (3 s at most), closes.
//   close()    closes now; queued data is dropped.
//   ~Stream()  as close(), except that a pending end() still completes.
// Either way on_close() runs exactly once, on a later turn (never inside
// the call that closed), after the last on_read() and after the error
// callback of a failure; local_address() and remote_address() still
// answer inside it. Operations in flight are cancelled and their memory is
// kept until the kernel is done; coroutines waiting on the stream resume
// with an error (NetError::closed, or end_of_stream after the peer's EOF).
//
// TLS (pants/tls.hpp): start_tls() puts TLS between the stream and its
// socket; everything above (framing, backpressure, end(), the awaiters)
// works unchanged on the plain bytes. end() then sends close_notify first,
// and a peer that closes without it is reported as tls::Error::truncated,
// not as a clean end. write_file() over TLS reads the file in chunks as
// the send queue drains below high_water, and encrypts them.
//
// A Stream belongs to one Engine and is used on that engine's thread.
#pragma once

#include <array>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <string>
#include <string_view>

#include <pants/address.hpp>
#include <pants/detail/waiter.hpp>
#include <pants/engine.hpp>
#include <pants/net_error.hpp>
#include <pants/packed.hpp>
#include <pants/read_delimiter.hpp>
#include <pants/result.hpp>

namespace pants {

namespace detail {
class StreamIo;
}  // namespace detail

namespace tls {
class Context;
class Session;
}  // namespace tls

/// The `read_delimiter` property: assign anything a ReadDelimiter takes.
class ReadDelimiterSetting {
public:
    template <class T>
    ReadDelimiterSetting& operator=(T&& value) {
        framer_.set_delimiter(ReadDelimiter(std::forward<T>(value)));
        return *this;
    }
    const ReadDelimiter& get() const noexcept { return framer_.delimiter(); }
    /// The groups of the regex match that ended the frame being delivered
    /// (in on_read, or after `co_await read()`); see Framer::match().
    RegexMatch match() const { return framer_.match(); }
    /// The frame being delivered as a record of the packed format, for
    /// get<T>(i) / unpack<Ts...>(); see Framer::record().
    PackedRecord record() const { return framer_.record(); }
    /// Internal: the framer that keeps the search position.
    Framer& framer() noexcept { return framer_; }

private:
    Framer framer_;
};

/// Which part of a file write_file() sends. Named fields, so that a call
/// cannot swap the two numbers: `s.write_file(fd, {.offset = 1000, .size = 5000})`
/// (Pants' `write_file(sfile, nbytes, offset)` takes them the other way round).
struct FileRange {
    std::uint64_t offset = 0;  ///< where to start in the file
    std::uint64_t size = 0;    ///< how many bytes; 0 = to the end of the file
};

namespace detail {
/// Internal: a socket a Server accepted (the Server calls on_connect and
/// starts receiving itself).
struct AcceptedSocket {
    int fd;
};
}  // namespace detail

class Stream {
public:
    /// A stream not yet connected, on `engine`.
    explicit Stream(Engine& engine = Engine::instance());
    /// Takes ownership of a connected socket made elsewhere (another
    /// library, a socketpair(), an inherited descriptor) and makes it
    /// non-blocking. On a later turn on_connect() runs and reading starts,
    /// as for a stream that connect()ed; a coroutine may read() at once.
    Stream(Engine& engine, int fd);
    /// Internal: a socket accepted by a Server.
    Stream(Engine& engine, detail::AcceptedSocket accepted);
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    virtual ~Stream();

    /// What one on_read() / read() delivers (default: each chunk as it arrives).
    ReadDelimiterSetting read_delimiter;
    /// Most bytes buffered for one frame (the larger of this and a byte
    /// count read_delimiter); a frame or partial frame past it gives
    /// on_overflow_error and closes.
    std::size_t buffer_size = 65536;
    /// Queued output above which reading pauses (if pause_on_high_water)
    /// and co_await write() suspends.
    std::size_t high_water = 1 << 20;
    /// Queued output at or below which reading resumes after such a pause.
    std::size_t low_water = 256 << 10;
    /// Queued output past which a write() fails: on_write_error
    /// (NetError::write_buffer_full) and close. 0: no limit.
    std::size_t max_write_buffer = 64 << 20;
    /// Stop reading while more than high_water is queued (backpressure).
    bool pause_on_high_water = true;

private:
    // What the last queue_write() left: queued on an open stream that is
    // still at or under high_water (its awaiter has nothing to wait for).
    // A field, not a result, so that callback code, which drops the
    // awaiter, pays nothing for it. Beside the bool above: no padding.
    bool write_room_ = false;

public:

    // --- callback style -------------------------------------------------

    class ReadAwaiter;
    class ReadOnceAwaiter;
    class WriteAwaiter;
    class ConnectAwaiter;
    class HandshakeAwaiter;

    /// Starts connecting; on_connect() or on_connect_error() follows (on a
    /// later turn, also when it fails at once: then on_close() follows
    /// too; a stream already connecting or connected gets EALREADY /
    /// EISCONN and keeps its connection). In a coroutine, `co_await
    /// s.connect(a)` also resumes with the outcome.
    ConnectAwaiter connect(const Address& address);
    /// Queues data; on_write() fires when everything queued has been sent.
    /// In a coroutine, `co_await s.write(d)` resumes once the queue is
    /// under high_water (backpressure), or with the stream's error. Await
    /// the result at once: it knows whether the write left room.
    WriteAwaiter write(std::string_view data) {
        // Inline, so that callback code, which drops the awaiter, neither
        // builds nor destroys it (once per message in an echo).
        queue_write(data);
        return WriteAwaiter(*io_, write_room_);
    }
    /// Queues `values` encoded as one record of a Python struct `format`
    /// (see pants/packed.hpp), as write() does; a bad format or a value
    /// that does not match it throws std::invalid_argument and queues
    /// nothing. A record of up to 256 bytes is encoded without allocating.
    template <class... Ts>
    WriteAwaiter write_packed(std::string_view format, const Ts&... values) {
        const std::array<detail::PackedArg, sizeof...(Ts)> args{detail::packed_arg(values)...};
        return write(detail::PackedBytes(format, args).view());
    }
    template <class... Ts>
    WriteAwaiter write_packed(const PackedFormat& format, const Ts&... values) {
        return write_packed(format.format(), values...);
    }
    /// Queues `range` of a file (all of it by default), sent by the kernel
    /// without passing through user space: `write_file(fd, {.offset = 4096})`
    /// (over TLS: read in chunks and encrypted, never all in memory).
    /// on_write() follows once it is sent; a read error is on_write_error().
    /// The fd is not closed.
    Result<void> write_file(int fd, FileRange range = {});
    /// The same for a path, opened now and closed when sent.
    Result<void> write_file(const std::string& path, FileRange range = {});
    /// Closes once everything queued has been sent (see the header comment).
    void end();
    /// Closes now; queued data is dropped. on_close() follows, once.
    void close();
    /// Stops reading from the socket (and delivering buffered frames) until
    /// resume_reading(); the kernel's buffers then push back on the peer.
    void pause_reading();
    /// Undoes pause_reading(); buffered frames are delivered on a later turn.
    void resume_reading();
    /// True between pause_reading() and resume_reading().
    bool reading_paused() const noexcept;

    bool connected() const noexcept;
    /// True while a connect() is under way.
    bool connecting() const noexcept;
    /// True once close() or end() was called or the stream failed.
    bool closing() const noexcept;
    /// True once on_close() runs.
    bool closed() const noexcept;
    /// The local address; still known in on_close().
    Result<Address> local_address() const;
    /// The peer's address; still known in on_close().
    Result<Address> remote_address() const;
    /// Bytes queued and not yet sent.
    std::size_t pending_write_bytes() const noexcept;
    Engine& engine() const noexcept;
    int fd() const noexcept;

    /// TCP_NODELAY (on by default for TCP).
    Result<void> set_nodelay(bool on);
    /// SO_KEEPALIVE, with the idle time before the first probe.
    Result<void> set_keepalive(bool on, std::chrono::seconds idle = std::chrono::seconds(60));

    /// Called with each frame (see read_delimiter).
    virtual void on_read(std::string_view data);
    /// Called when the write queue has drained.
    virtual void on_write();
    /// Called when connect() succeeded (or a Server accepted this stream).
    virtual void on_connect();
    /// Called exactly once, after the last on_read, when the stream has closed.
    virtual void on_close();
    /// connect() failed; the stream closes. Default: on_error().
    virtual void on_connect_error(std::error_code error);
    /// Receiving failed (e.g. reset); the stream closes. Default: on_error().
    virtual void on_read_error(std::error_code error);
    /// Sending failed (e.g. reset, or max_write_buffer passed); the stream
    /// closes. Default: on_error().
    virtual void on_write_error(std::error_code error);
    /// A frame exceeded buffer_size; the stream closes. Default: on_error().
    virtual void on_overflow_error(std::error_code error);
    /// Any error not handled by a more specific callback. Default: nothing.
    virtual void on_error(std::error_code error);

    // --- TLS (pants/tls.hpp) ---------------------------------------------

    /// Starts TLS on this stream, as a client or server as `context` is
    /// (a client verifies `server_name` and sends it as SNI). On a
    /// connected stream the handshake begins now (what was written before
    /// goes out first, in the clear: STARTTLS); on a stream not yet
    /// connected it begins at the connect, and on_connect() (and a
    /// co_await connect()) then wait for it. Later writes are encrypted
    /// (held until the handshake finishes). Fails if TLS already started.
    Result<void> start_tls(const tls::Context& context, std::string_view server_name = {});
    /// What TLS knows about this connection; null before start_tls().
    const tls::Session* tls() const noexcept;
    /// Resumes when the handshake has finished, or with its error (EINVAL
    /// before start_tls()).
    HandshakeAwaiter handshake();
    /// The handshake finished (before on_connect() where that waits for it).
    virtual void on_tls_handshake();
    /// The handshake failed or a record was bad (verification failures,
    /// alerts from the peer, truncation, timeout); the stream closes.
    /// Default: on_error().
    virtual void on_tls_error(std::error_code error);

    // --- coroutine style ------------------------------------------------

    /// The next frame, or an error (NetError::end_of_stream at the end).
    /// The view stays valid until the next read() on this stream.
    ReadAwaiter read() { return ReadAwaiter(*io_); }
    /// Exactly n bytes, whatever read_delimiter says.
    ReadOnceAwaiter read_exactly(std::size_t n);
    /// Up to (and without) `delimiter`, whatever read_delimiter says.
    ReadOnceAwaiter read_until(std::string_view delimiter);
    /// Hands incoming frames back to on_read() after a coroutine used read().
    void callbacks();

    /// Internal: the I/O state (servers and the client use it).
    detail::StreamIo& io() const noexcept { return *io_; }

private:
    friend class detail::StreamIo;
    void queue_write(std::string_view data);

    detail::StreamIo* io_;  // never null; its engine is the stream's

public:
    // The awaiters are defined here so they can be returned by value. Each
    // points at the stream's I/O state, which outlives a Stream destroyed
    // while they wait.

    /// What `co_await stream.read()` waits on.
    class ReadAwaiter : public detail::Waiter {
    public:
        explicit ReadAwaiter(detail::StreamIo& io) noexcept : io_(&io) {}
        // One call, not two: suspend() takes a buffered frame first and
        // then does not suspend (most reads in a busy echo find none).
        bool await_ready() const noexcept { return false; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        Result<std::string_view> await_resume() noexcept {
            if (failed()) return unexpected(error());
            return std::string_view(frame_data_, frame_size_);
        }

    protected:
        /// A read of one frame by its own delimiter (read_exactly,
        /// read_until), which `once` (in the derived awaiter) holds.
        struct Once {
            ReadDelimiter delimiter;
            std::size_t scanned = 0;  // where the delimiter search goes on
        };
        ReadAwaiter(detail::StreamIo& io, Once& once) noexcept : io_(&io), once_(&once) {}

    private:
        friend class detail::StreamIo;
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        bool suspend_general(std::coroutine_handle<> h, detail::CancelState* cancel);
        void set_frame(std::string_view frame) noexcept {
            frame_data_ = frame.data();
            frame_size_ = frame.size();
        }
        detail::StreamIo* io_;
        Once* once_ = nullptr;  // null: the stream's read_delimiter frames
        // The frame read, set before a read succeeds (so not initialised:
        // a read() is made once per message); a failure (a framing error,
        // the end, a close) is the Waiter's error(), as a cancel is.
        const char* frame_data_;
        std::size_t frame_size_;
    };

    /// What `co_await stream.read_exactly(n)` and `read_until(d)` wait on:
    /// a ReadAwaiter that holds its own delimiter.
    class ReadOnceAwaiter : public ReadAwaiter {
    public:
        ReadOnceAwaiter(detail::StreamIo& io, ReadDelimiter delimiter) : ReadAwaiter(io, own_), own_{std::move(delimiter)} {}

    private:
        Once own_;
    };

    /// What `co_await stream.write(data)` waits on: room under high_water.
    class WriteAwaiter : public detail::Waiter {
    public:
        /// `room`: the write just queued left the stream open and at or
        /// under high_water, so there is nothing to wait for.
        WriteAwaiter(detail::StreamIo& io, bool room) noexcept : io_(&io), open_(room) {}
        bool await_ready() noexcept {
            // Inline: a write with room (every write in an echo) is ready
            // without a second look at the stream.
            return open_ || ready();
        }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        Result<void> await_resume() const noexcept {
            // Inline: a write with room, on an open stream (every write in
            // an echo), needs no second look at the stream.
            if (open_) return {};
            return result();
        }

    private:
        bool ready() noexcept;
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        Result<void> result() const noexcept;
        detail::StreamIo* io_;
        bool open_;  // room on an open stream, found by write() or ready()
    };

    /// What `co_await stream.connect(address)` waits on.
    class ConnectAwaiter : public detail::Waiter {
    public:
        ConnectAwaiter(detail::StreamIo& io, Result<void> started) noexcept : io_(&io), result_(started) {}
        bool await_ready() const noexcept;
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        Result<void> await_resume() const noexcept {
            if (error()) return unexpected(error());
            return result_;
        }

    private:
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        static bool on_cancel(detail::Waiter& self) noexcept;
        detail::StreamIo* io_;
        Result<void> result_;
    };

    /// What `co_await stream.handshake()` waits on.
    class HandshakeAwaiter : public detail::Waiter {
    public:
        explicit HandshakeAwaiter(detail::StreamIo& io) noexcept : io_(&io) {}
        bool await_ready() noexcept;
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        Result<void> await_resume() const noexcept {
            if (error()) return unexpected(error());
            return result_;
        }

    private:
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        detail::StreamIo* io_;
        Result<void> result_;
    };
};

}  // namespace pants
