// pants/datagram.hpp: a datagram channel (UDP over IPv4/IPv6, or Unix
// datagrams), with Pants' callbacks and co_await adapters on the same object.
//
// Override on_read(data, from) and friends, or co_await receive() /
// send_to() from a coroutine, or mix: frames go to a waiting receive() if
// there is one, otherwise to on_read(), until a coroutine has called
// receive(): from then on datagrams wait (in the kernel's socket buffer) for
// the next receive() (call callbacks() to hand the channel back to on_read()).
//
// read_delimiter is applied within each datagram: a datagram boundary always
// ends a frame, so bytes after the last complete frame of a datagram are
// delivered as one more, shorter frame; nothing carries over to the next
// datagram. A datagram too large to receive whole (see buffer_size) is never
// cut silently: it is reported as std::errc::message_size (MSG_TRUNC) and
// dropped.
//
// Per-datagram errors (a truncated datagram, an ICMP report such as
// ECONNREFUSED, a send the kernel refused: EINVAL for a reply to port 0,
// EAFNOSUPPORT for an IPv6 destination on an IPv4 socket) reach
// on_read_error / on_send_error (or the awaiting coroutine) and the channel
// goes on; only close(), end() or a broken socket end it. write() never
// blocks and never drops a datagram: datagrams are queued and sent in order,
// each to its own destination.
//
// end() sends every queued datagram, then closes; close() drops them;
// destroying the Datagram is close(), except that a pending end() still
// completes. on_close() runs once, on a later turn. A Datagram belongs to
// one Engine and is used on that engine's thread. Destroying it with
// operations in flight is safe.
#pragma once

#include <array>
#include <coroutine>
#include <cstdint>
#include <optional>
#include <string_view>

#include <pants/address.hpp>
#include <pants/detail/waiter.hpp>
#include <pants/engine.hpp>
#include <pants/listen_options.hpp>
#include <pants/net_error.hpp>
#include <pants/packed.hpp>
#include <pants/read_delimiter.hpp>
#include <pants/result.hpp>
#include <pants/stream.hpp>

namespace pants {

namespace detail {
class DatagramIo;
}  // namespace detail

/// One frame received by `co_await d.receive()`: the bytes (valid until the
/// next receive() on the channel) and who sent them.
struct Received {
    std::string_view data;
    Address from;
};

class Datagram {
public:
    /// A channel with no socket yet: listen(), connect() or a first write()
    /// opens one.
    explicit Datagram(Engine& engine = Engine::instance());
    Datagram(const Datagram&) = delete;
    Datagram& operator=(const Datagram&) = delete;
    virtual ~Datagram();

    /// What one on_read() / receive() delivers, within each datagram.
    ReadDelimiterSetting read_delimiter;
    /// The largest datagram received whole; larger ones are reported as
    /// truncated (std::errc::message_size). Read when the socket opens.
    /// The default takes any UDP datagram (65,507 bytes over IPv4, 65,527
    /// over IPv6). In callback mode datagrams land in the engine's datagram
    /// buffers, which take up to 65,536 + 3,952 bytes (+ 3,888 with
    /// receive offload; more than any UDP datagram; a larger Unix datagram
    /// is reported as truncated); a
    /// coroutine's receive() uses a buffer of this size, made when a
    /// coroutine first receives, so an idle channel holds none. At 65,535
    /// or more receive_offload can be on (a smaller buffer could not hold
    /// a coalesced payload).
    std::size_t buffer_size = 65536;
    /// Receive offload (UDP_GRO) for a UDP socket of listen() or assign(),
    /// read then: the kernel may pass several datagrams of one sender (a
    /// peer's GSO batch, a NIC's GRO) up as one payload, which the channel
    /// hands out as the separate datagrams they were; one receive per
    /// batch instead of one per datagram. Sockets opened by connect() or a
    /// first write() never take it: the host's first UDP_GRO socket flips
    /// a kernel-wide switch (about 100 µs). Turn it off for a socket that
    /// others also read from (they would see the joined payloads); an
    /// assign()ed socket that had it on gets it turned off then.
    bool receive_offload = true;

    class ReceiveAwaiter;
    class SendAwaiter;

    /// Binds to `address` ("0.0.0.0:5000", "[::]:0", "/run/x.sock") and
    /// starts receiving; on_listen() follows on a later turn. A port some
    /// other socket holds fails with address_in_use (no SO_REUSEADDR);
    /// sockets that mean to share one set ListenOptions::reuse_port.
    Result<void> listen(const Address& address);
    /// The same with options (SO_REUSEPORT: see ListenOptions).
    Result<void> listen(const Address& address, const ListenOptions& options);
    /// Takes ownership of a datagram socket made elsewhere (bound, maybe
    /// connected: systemd socket activation, an inherited descriptor),
    /// makes it non-blocking and starts receiving; on_listen() follows if
    /// it is bound. EISCONN if this channel has a socket already; ENOTSOCK
    /// or EPROTOTYPE when `fd` is not a datagram socket (then left alone).
    Result<void> assign(int fd);
    /// True once listen() (or assign() of a bound socket) succeeded, until
    /// the channel closes.
    bool listening() const noexcept;
    /// Fixes the peer: write(data) goes there, only its datagrams are
    /// received, and an ICMP port-unreachable arrives as ECONNREFUSED.
    Result<void> connect(const Address& address);
    /// Queues one datagram to `to`; `to` becomes the address write(data) uses.
    void write(std::string_view data, const Address& to);
    /// Queues one datagram to the address used most recently: the sender of
    /// the last datagram received or the last destination written to,
    /// whichever came last (as Pants), else the connected peer. With none,
    /// on_write_error(EDESTADDRREQ) follows.
    void write(std::string_view data);
    /// Queues one datagram holding `values` encoded as one record of a
    /// Python struct `format` (see pants/packed.hpp), to the address
    /// write(data) uses; a bad format or value throws std::invalid_argument
    /// and queues nothing.
    template <class... Ts>
    void write_packed(std::string_view format, const Ts&... values) {
        const std::array<detail::PackedArg, sizeof...(Ts)> args{detail::packed_arg(values)...};
        write(detail::PackedBytes(format, args).view());
    }
    /// The same, to `to` (which becomes the address write(data) uses).
    template <class... Ts>
    void write_packed_to(const Address& to, std::string_view format, const Ts&... values) {
        const std::array<detail::PackedArg, sizeof...(Ts)> args{detail::packed_arg(values)...};
        write(detail::PackedBytes(format, args).view(), to);
    }
    /// Closes once every queued datagram has been sent.
    void end();
    /// Closes now; queued datagrams are dropped. on_close() follows, once.
    void close();

    /// SO_BROADCAST: allows sending to broadcast addresses. Kept for a socket
    /// opened later.
    Result<void> set_broadcast(bool on);

    /// True once close() or end() was called or the socket failed.
    bool closing() const noexcept;
    bool closed() const noexcept;
    /// The bound address (after listen(), connect() or a first write()).
    Result<Address> local_address() const;
    /// The address write(data) would use, if any.
    std::optional<Address> remote_address() const;
    /// Datagrams queued and not yet sent.
    std::size_t pending_writes() const noexcept;
    Engine& engine() const noexcept { return *engine_; }
    int fd() const noexcept;

    /// Called with each frame and the address it came from.
    virtual void on_read(std::string_view data, const Address& from);
    /// Called when the send queue has drained.
    virtual void on_write();
    /// Called when listen() (or assign() of a bound socket) succeeded, on a
    /// later turn.
    virtual void on_listen();
    /// Called exactly once, when the channel has closed.
    virtual void on_close();
    /// A datagram could not be received whole (std::errc::message_size), a
    /// frame function failed, or ECONNREFUSED arrived. Default: on_error().
    virtual void on_read_error(std::error_code error);
    /// The datagram to `to` could not be sent (it is dropped; the channel
    /// goes on). Default: on_write_error(error).
    virtual void on_send_error(std::error_code error, const Address& to);
    /// A datagram could not be sent. Default: on_error().
    virtual void on_write_error(std::error_code error);
    /// Any error not handled by a more specific callback. Default: nothing.
    virtual void on_error(std::error_code error);

    // --- coroutine style ------------------------------------------------

    /// The next frame and its sender, or an error (per-datagram errors as
    /// on_read_error; NetError::closed once the channel closed).
    ReceiveAwaiter receive();
    /// Queues one datagram to `to` and resumes when it has been sent, with
    /// the kernel's verdict.
    SendAwaiter send_to(std::string_view data, const Address& to);
    /// The same, to the address write(data) would use.
    SendAwaiter send(std::string_view data);
    /// Hands incoming frames back to on_read() after a coroutine used receive().
    void callbacks();

    /// Internal: the I/O state.
    detail::DatagramIo& io() const noexcept { return *io_; }

private:
    Engine* engine_;
    detail::DatagramIo* io_;

public:
    // Each awaiter points at the I/O state, not the Datagram: it outlives a
    // Datagram destroyed while they wait.

    /// What `co_await d.receive()` waits on.
    class ReceiveAwaiter : public detail::Waiter {
    public:
        explicit ReceiveAwaiter(detail::DatagramIo& io) noexcept : io_(&io) {}
        bool await_ready();
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        Result<Received> await_resume() noexcept {
            if (error()) return unexpected(error());
            return std::move(result_);
        }

    private:
        friend class detail::DatagramIo;
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        detail::DatagramIo* io_;
        Result<Received> result_;
    };

    /// What `co_await d.send_to(data, to)` waits on: that datagram's send.
    class SendAwaiter : public detail::Waiter {
    public:
        /// `seq` 0: nothing was queued because the channel is closing.
        SendAwaiter(detail::DatagramIo& io, std::uint64_t seq) noexcept : io_(&io), seq_(seq) {}
        bool await_ready() noexcept;
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        Result<void> await_resume() const noexcept;

    private:
        friend class detail::DatagramIo;
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        static bool on_cancel(detail::Waiter& self) noexcept;
        detail::DatagramIo* io_;
        std::uint64_t seq_;  // 0: nothing was queued
        bool gone_ = false;  // its datagram was dropped by a close
    };
};

/// Sends one datagram to `address` from a fresh, unbound socket, now,
/// without blocking (EAGAIN if the kernel has no room). For one-off sends;
/// a channel that sends often should use a Datagram.
Result<void> sendto(std::string_view data, const Address& address);

}  // namespace pants
