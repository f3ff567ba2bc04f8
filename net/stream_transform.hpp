// net/stream_transform.hpp: a layer between a StreamIo and its socket.
//
// The seam TLS plugs into (net/tls/): the StreamIo keeps its one
// lifecycle, framing, write queue and backpressure, and hands the bytes
// that cross the socket to the transform. Bytes from the socket go to
// receive() (still in the engine's provided buffer); the transform gives
// the plain bytes back with StreamIo::receive_plain(). Bytes the user
// writes go to write(); the transform queues what goes on the wire with
// StreamIo::send_wire(), which joins the same batched send as plain
// writes. Engine thread only; it lives as long as its StreamIo.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace pants::detail {

class StreamTransform {
public:
    virtual ~StreamTransform() = default;

    /// The socket is connected: begin (a TLS client sends its hello).
    /// `announce`: on_connect (and a waiting connect()) come once it is
    /// established, through StreamIo::announce_connected().
    virtual void start(bool announce) = 0;
    /// Bytes the socket received; valid only during the call.
    virtual void receive(std::string_view wire) = 0;
    /// The peer closed its side of the socket. True when that is a clean
    /// end; false when the transform failed the stream for it (TLS
    /// without close_notify is a truncation).
    virtual bool peer_closed() = 0;
    /// Bytes the user wrote (not empty; the StreamIo is not closing).
    virtual void write(std::string_view data) = 0;
    /// write_file(): `size` bytes of `fd` from `offset`, behind what was
    /// written before; `owns_fd`: close it once done or dropped. Read and
    /// transformed in chunks as the send queue drains below high_water; a
    /// read error fails the stream through StreamIo::output_failed().
    virtual void write_file(int fd, bool owns_fd, std::uint64_t offset, std::uint64_t size) = 0;
    /// The send queue shrank (a send completed): room for more of what
    /// pending() counts.
    virtual void output_room() = 0;
    /// The send queue drained: true when user bytes went out since the
    /// last drain, so on_write is due. A handshake's records or a session
    /// ticket the layer sent on its own are not the user's write.
    virtual bool take_user_drain() noexcept = 0;
    /// end() was called: true when queued output may now be flushed and
    /// the stream closed (TLS has queued close_notify); false while it
    /// cannot end yet (mid-handshake): it calls StreamIo::finish_output()
    /// once it can.
    virtual bool end() = 0;
    /// User bytes not transformed yet (written before the handshake
    /// finished, or queued behind a file still being read).
    virtual std::size_t pending() const noexcept = 0;
    /// Established: user bytes flow (on_write is about user bytes only).
    virtual bool established() const noexcept = 0;
    /// The stream has closed: stop timers, resume waiters with `error`.
    virtual void closed(std::error_code error) noexcept = 0;
};

}  // namespace pants::detail
