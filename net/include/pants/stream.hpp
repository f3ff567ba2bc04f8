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
// blocks and never drops data. A Stream belongs to one Engine and is used on
// that engine's thread. Destroying a Stream with operations in flight is
// safe: they are cancelled and their memory is kept until the kernel is done.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <pants/address.hpp>
#include <pants/engine.hpp>
#include <pants/net_error.hpp>
#include <pants/read_delimiter.hpp>
#include <pants/result.hpp>

namespace pants {

namespace detail {
class StreamIo;
}  // namespace detail

/// The `read_delimiter` property: assign anything a ReadDelimiter takes.
class ReadDelimiterSetting {
public:
    template <class T>
    ReadDelimiterSetting& operator=(T&& value) {
        framer_.set_delimiter(ReadDelimiter(std::forward<T>(value)));
        return *this;
    }
    const ReadDelimiter& get() const noexcept { return framer_.delimiter(); }
    /// Internal: the framer that keeps the search position.
    Framer& framer() noexcept { return framer_; }

private:
    Framer framer_;
};

class Stream {
public:
    /// A stream not yet connected, on `engine`.
    explicit Stream(Engine& engine = Engine::instance());
    /// Takes ownership of a connected, non-blocking socket.
    Stream(Engine& engine, int fd);
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    virtual ~Stream();

    /// What one on_read() / read() delivers (default: each chunk as it arrives).
    ReadDelimiterSetting read_delimiter;
    /// Most bytes buffered waiting for a frame; past it on_overflow_error and close.
    std::size_t buffer_size = 65536;
    /// co_await write() suspends while more than this is queued.
    std::size_t high_water = 1 << 20;

    // --- callback style -------------------------------------------------

    class ReadAwaiter;
    class WriteAwaiter;
    class ConnectAwaiter;

    /// Starts connecting; on_connect() or on_connect_error() follows. In a
    /// coroutine, `co_await s.connect(a)` also resumes with the outcome.
    ConnectAwaiter connect(const Address& address);
    /// Queues data; on_write() fires when everything queued has been sent.
    /// In a coroutine, `co_await s.write(d)` resumes once the queue is
    /// under high_water (backpressure), or with the stream's error.
    WriteAwaiter write(std::string_view data);
    /// Queues `nbytes` of a file from `offset` (0 = to its end), sent by the
    /// kernel without passing through user space. The fd is not closed.
    Result<void> write_file(int fd, std::uint64_t offset = 0, std::uint64_t nbytes = 0);
    /// The same for a path, opened now and closed when sent.
    Result<void> write_file(const std::string& path, std::uint64_t offset = 0, std::uint64_t nbytes = 0);
    /// Closes once everything queued has been sent.
    void end();
    /// Closes now; queued data is dropped. on_close() follows, once.
    void close();

    bool connected() const noexcept;
    /// True once close() or end() was called or the stream failed.
    bool closing() const noexcept;
    bool closed() const noexcept;
    Result<Address> local_address() const;
    Result<Address> remote_address() const;
    /// Bytes queued and not yet sent.
    std::size_t pending_write_bytes() const noexcept;
    Engine& engine() const noexcept { return *engine_; }
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
    /// Sending failed (e.g. reset); the stream closes. Default: on_error().
    virtual void on_write_error(std::error_code error);
    /// A frame exceeded buffer_size; the stream closes. Default: on_error().
    virtual void on_overflow_error(std::error_code error);
    /// Any error not handled by a more specific callback. Default: nothing.
    virtual void on_error(std::error_code error);

    // --- coroutine style ------------------------------------------------

    /// The next frame, or an error (NetError::end_of_stream at the end).
    /// The view stays valid until the next read() on this stream.
    ReadAwaiter read();
    /// Exactly n bytes, whatever read_delimiter says.
    ReadAwaiter read_exactly(std::size_t n);
    /// Up to (and without) `delimiter`, whatever read_delimiter says.
    ReadAwaiter read_until(std::string_view delimiter);
    /// Hands incoming frames back to on_read() after a coroutine used read().
    void callbacks();

    /// Internal: the I/O state (servers and datagram-free helpers use it).
    detail::StreamIo& io() const noexcept { return *io_; }

private:
    Engine* engine_;
    detail::StreamIo* io_;

public:
    // The awaiters are defined here so they can be returned by value.

    /// What `co_await stream.read()` waits on.
    class ReadAwaiter {
    public:
        ReadAwaiter(Stream& s, std::optional<ReadDelimiter> once) : stream_(s), once_(std::move(once)) {}
        ReadAwaiter(const ReadAwaiter&) = delete;
        ~ReadAwaiter();
        bool await_ready();
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        Result<std::string_view> await_resume() noexcept { return std::move(result_); }

    private:
        friend class detail::StreamIo;
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        static void on_cancel(void* self) noexcept;
        Stream& stream_;
        std::optional<ReadDelimiter> once_;
        std::size_t scanned_ = 0;
        Result<std::string_view> result_;
        std::coroutine_handle<> waiter_;
        detail::CancelState* cancel_ = nullptr;
    };

    /// What `co_await stream.write(data)` waits on: room under high_water.
    class WriteAwaiter {
    public:
        explicit WriteAwaiter(Stream& s) noexcept : stream_(&s) {}
        WriteAwaiter(const WriteAwaiter&) = delete;
        ~WriteAwaiter();
        bool await_ready() const noexcept;
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        Result<void> await_resume() const noexcept;

    private:
        friend class detail::StreamIo;
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        static void on_cancel(void* self) noexcept;
        Stream* stream_;
        std::coroutine_handle<> waiter_;
        detail::CancelState* cancel_ = nullptr;
        WriteAwaiter* next_ = nullptr;
        bool cancelled_ = false;
    };

    /// What `co_await stream.connect(address)` waits on.
    class ConnectAwaiter {
    public:
        ConnectAwaiter(Stream& s, Result<void> started) noexcept : stream_(s), result_(started) {}
        ConnectAwaiter(const ConnectAwaiter&) = delete;
        ~ConnectAwaiter();
        bool await_ready() const noexcept;
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        Result<void> await_resume() const noexcept { return result_; }

    private:
        friend class detail::StreamIo;
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        static void on_cancel(void* self) noexcept;
        Stream& stream_;
        Result<void> result_;
        std::coroutine_handle<> waiter_;
        detail::CancelState* cancel_ = nullptr;
    };
};

}  // namespace pants
