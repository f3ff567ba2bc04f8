// The resolver's UDP sockets: a small pool per server, shared by the
// queries in flight to it (issue 14).
//
// A fresh socket per query (socket + connect + close, about 8 µs of kernel
// time) was most of the cost of an uncached query. Here each server gets up
// to kPortsPerServer sockets at a time, each connected to it from an
// ephemeral port the kernel picks at random (udp_lib_get_port), and each
// used for at most kQueriesPerPort queries before it is retired: it takes
// no new query, and once its last one is done it moves to a new random
// port (connect(AF_UNSPEC), then connect(): the kernel releases the port
// it chose and chooses again) and waits as a spare that takes the place
// of the next retired one. A socket that failed closes instead, and a new
// one is opened when no spare waits. A query goes out on a randomly
// chosen socket of its server, and then gets a random id that no other
// query waiting on that socket has.
//
// Source-port randomness (RFC 5452 9.2) is kept where it counts: a blind
// spoofer must hit an open port and the id of a query waiting on it, and
// with Q queries in flight over P ports that chance per forged datagram is
// P/ports x (Q/P)/65536, the same Q/ports/65536 as one socket per query. A
// port stays open for a bounded number of queries (and closes after a
// second without queries), which bounds what an attacker gains by finding
// one (the SAD DNS side channel).
//
// A query goes out at once when nothing waits in the socket's queue,
// without an Operation (Backend::send_datagram: send(2) on epoll; on
// io_uring a send in the turn's io_uring_enter whose success posts no
// completion, since a sendmsg's completion would wake the loop for a turn
// of its own); the queue takes over when the socket has no room, and a
// send error is reported from the queue's callback or a later completion,
// never from send().
//
// Replies are matched as before: connect() makes the kernel drop datagrams
// from other sources (and the source is checked again), the id picks the
// waiting query, which checks the question (resolver_transport.cpp). A
// datagram that came to a socket's previous port (a late reply; the move
// discards those already queued, but one may be in a receive completion
// not yet handled) is matched the same way, so it answers nobody unless a
// query now waiting there has both its id and its question.
// Events that name no query concern them all: an ICMP error
// (ECONNREFUSED) or a broken socket ends every query on that socket, a
// datagram too big to receive sends them all to TCP, bytes too short to
// carry an id count as a malformed reply for each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include <pants/address.hpp>
#include <pants/engine.hpp>
#include <pants/result.hpp>
#include <pants/timer.hpp>

namespace pants::dns::detail {

class UdpPool {
public:
    /// Ports a server has at a time, and queries a port carries in its life.
    static constexpr std::size_t kPortsPerServer = 4;
    static constexpr unsigned kQueriesPerPort = 32;
    /// A pool without queries in flight closes its sockets after this long.
    static constexpr std::chrono::seconds kIdleClose{1};

    /// What a query on the pool hears. Called from the socket's callbacks;
    /// a client may release() itself from them.
    class Client {
    public:
        /// A datagram that may be the reply (its id is the query's, or it is
        /// too short to carry one): the client checks everything else.
        virtual void on_udp_reply(std::string_view data) = 0;
        /// A reply too big to receive came on the socket.
        virtual void on_udp_oversized() = 0;
        /// The socket failed, or the network reported an error for it.
        virtual void on_udp_error(std::error_code error) = 0;

    protected:
        ~Client() = default;
    };

    class Port;

    explicit UdpPool(Engine& engine);
    UdpPool(const UdpPool&) = delete;
    UdpPool& operator=(const UdpPool&) = delete;
    ~UdpPool();

    /// Sends `query` (whose first two bytes are the id) to `server`;
    /// replies carrying that id reach `client` until release(). With
    /// `fresh_id` the id is chosen here, once the port is (RFC 5452 9.2:
    /// unpredictable), and written over those two bytes; else the query
    /// keeps its own and goes on a port where no other query has it. The
    /// port returned identifies the registration; an error when no socket
    /// could be opened or connected.
    Result<Port*> send(const Address& server, std::span<std::uint8_t> query, Client& client, bool fresh_id);
    /// `client` no longer listens on `port`.
    void release(Port* port, Client& client) noexcept;
    /// Closes every socket (the resolver shuts down); registrations are
    /// dropped silently.
    void close_all() noexcept;

    /// Sockets open now, and sockets opened so far (not counting moves to
    /// a new port).
    std::size_t open_ports() const noexcept;
    std::uint64_t ports_opened() const noexcept { return opened_; }

private:
    friend class Port;
    Result<Port*> open_port(const Address& server);
    bool known(const Port* port) const noexcept;
    void retire(Port& port) noexcept;
    void became_idle(Port& port) noexcept;
    void bury();

    Engine& engine_;
    std::vector<std::unique_ptr<Port>> ports_;      // taking queries
    std::vector<std::unique_ptr<Port>> retiring_;   // finishing theirs
    std::vector<std::unique_ptr<Port>> spares_;     // done, on a new port
    std::vector<std::unique_ptr<Port>> closed_;     // freed outside their callbacks
    std::uint64_t ports_version_ = 0;               // changes whenever ports_ does
    // send()'s look-up: mine_server_'s ports in ports_ as of mine_version_.
    Address mine_server_;
    Port* mine_[kPortsPerServer] = {};
    std::size_t mine_count_ = 0;
    std::uint64_t mine_version_ = ~std::uint64_t(0);
    std::size_t in_flight_ = 0;
    std::uint64_t opened_ = 0;
    Timer idle_timer_;
};

}  // namespace pants::dns::detail
