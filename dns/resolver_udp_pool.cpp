// The resolver's pooled UDP sockets (see resolver_udp_pool.hpp).
#include "resolver_udp_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <random>

#include <sys/socket.h>

#include <pants/datagram.hpp>

#include "resolver_transport.hpp"

namespace pants::dns::detail {

namespace {
// A send that found no room (or was interrupted): the queue takes it.
bool no_room(int result) {
    return result == -EAGAIN || result == -EWOULDBLOCK || result == -EINTR || result == -ENOBUFS;
}

std::uint16_t id_of(std::span<const std::uint8_t> message) {
    return static_cast<std::uint16_t>(message[0] << 8 | message[1]);
}
}  // namespace

/// One socket connected to one server, and the queries waiting on it.
class UdpPool::Port final : public Datagram, private pants::detail::DatagramSendSink {
public:
    Port(UdpPool& pool, const Address& server) : Datagram(pool.engine_), pool_(pool), server_(server) {}

    const Address& server() const noexcept { return server_; }
    bool waits_for(std::uint16_t id) const noexcept {
        return std::any_of(waiting_.begin(), waiting_.end(), [id](const Waiting& w) { return w.id == id; });
    }
    bool holds(const Client& client) const noexcept {
        return std::any_of(waiting_.begin(), waiting_.end(), [&](const Waiting& w) { return w.client == &client; });
    }
    bool idle() const noexcept { return waiting_.empty(); }

    void send(std::span<const std::uint8_t> query, Client& client) {
        waiting_.push_back(Waiting{id_of(query), &client});
        const std::string_view bytes(reinterpret_cast<const char*>(query.data()), query.size());
        // Nothing queued before it: out at once, without the queue's
        // Operation (Backend::send_datagram): send(2) on epoll; on io_uring
        // a send that leaves with the turn's io_uring_enter and posts no
        // completion when it succeeds. A queued sendmsg's completion would
        // end the loop's wait at once, costing a turn (an io_uring_enter)
        // of its own per query when replies trickle in one at a time, as
        // from a forwarding server (issue 14: 1.9 turns per query, 1.0
        // with send(2), which is itself a system call per query).
        if (pending_writes() == 0 && !deferred_error_) {
            const int r = pool_.engine_.backend().send_datagram(fd(), bytes, *this);
            if (r == 0) return;
            // No room: the queue waits for it. Any other error (a pending
            // ICMP report, ECONNREFUSED, is handed to the first call that
            // looks) is reported from the queued send's callback, to every
            // query on this socket, as a receive would have: never from
            // inside this call.
            if (!no_room(r)) deferred_error_ = std::error_code(-r, std::system_category());
        }
        sends_.push_back(&client);
        write(bytes);
    }
    ~Port() { pool_.engine_.backend().forget(*this); }
    /// False if `client` was not waiting here (nothing to forget).
    bool forget(Client& client) noexcept {
        if (std::erase_if(waiting_, [&](const Waiting& w) { return w.client == &client; }) == 0) return false;
        std::replace(sends_.begin(), sends_.end(), &client, static_cast<Client*>(nullptr));
        return true;
    }
    void forget_all() noexcept {
        waiting_.clear();
        sends_.clear();
    }

    /// Moves this socket to a new random source port (RFC 5452 9.2), for
    /// another kQueriesPerPort queries; false if it cannot serve again.
    /// Only for a port that served its queries and has none waiting.
    bool renew() noexcept {
        // Not while a datagram of its old port is still queued or its
        // error still to come: that would fail the new port's queries.
        if (failed || closed() || pending_writes() > 0 || deferred_error_) return false;
        // connect(AF_UNSPEC) releases the port the kernel chose at connect()
        // (udp_disconnect: a port not bound by bind()), and the connect()
        // below makes it choose a new one, at random as for a new socket.
        // A new socket costs socket + connect + close, and on io_uring a
        // receive to arm and one to cancel: 10 µs against 3 (issue 14).
        sockaddr unspec{};
        unspec.sa_family = AF_UNSPEC;
        if (::connect(fd(), &unspec, sizeof unspec) < 0) return false;
        // Datagrams that came to the old port before it was released:
        // nobody waits for them now (a late reply to a query that gave up
        // here). A pending error (an ICMP report) retires the socket.
        char byte;
        while (::recv(fd(), &byte, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
        if (!connect(server_)) return false;
        uses_left = kQueriesPerPort;
        retired = false;
        return true;
    }

    unsigned uses_left = kQueriesPerPort;
    bool retired = false;
    bool failed = false;  // retired because it could not send or receive

    void on_read(std::string_view data, const Address& from) override {
        // connect() already makes the kernel drop other sources.
        if (!(from == server_)) return;
        if (data.size() < 2) {
            // No id: a malformed reply to whichever query it was meant for.
            return for_each_client([&](Client& c) { c.on_udp_reply(data); });
        }
        const auto id = static_cast<std::uint16_t>(std::uint8_t(data[0]) << 8 | std::uint8_t(data[1]));
        for (const Waiting& w : waiting_)
            if (w.id == id) return w.client->on_udp_reply(data);  // ids are unique per port
    }
    void on_read_error(std::error_code error) override {
        // A reply too big for the receive buffer: TCP is what it is for (as
        // for a truncated one). We cannot tell whose it was, so every query
        // here asks again over TCP.
        if (error == std::errc::message_size) return for_each_client([](Client& c) { c.on_udp_oversized(); });
        // An ICMP report (ECONNREFUSED: nobody listens there) concerns the
        // server, so every query on this socket.
        fail(error);
    }
    void on_send_error(std::error_code error, const Address&) override {
        // Datagrams are sent in order and pending_writes() are still queued
        // behind this one: the ones before it in sends_ went out.
        const std::size_t after = pending_writes();
        if (sends_.size() > after) {
            const std::size_t index = sends_.size() - after - 1;
            Client* client = sends_[index];
            sends_.erase(sends_.begin(), sends_.begin() + std::ptrdiff_t(index) + 1);
            failed = true;
            pool_.retire(*this);  // a socket that cannot send serves nobody well
            if (client && holds(*client)) client->on_udp_error(error);
            if (auto earlier = std::exchange(deferred_error_, {})) fail(earlier);
            return;
        }
        deferred_error_ = {};
        fail(error);
    }
    void on_write() override {
        sends_.clear();  // every datagram went out
        if (auto earlier = std::exchange(deferred_error_, {})) fail(earlier);
    }
    void on_error(std::error_code error) override { fail(error); }  // the socket broke

    // A query send_datagram() took and the kernel then refused (io_uring),
    // on a completion of this turn.
    void datagram_send_failed(int result, std::string_view data) override {
        if (!no_room(result)) return fail(std::error_code(-result, std::system_category()));
        // The socket was full: the queue sends it when there is room, if
        // its query still waits.
        if (data.size() < 2) return;
        const auto id = static_cast<std::uint16_t>(std::uint8_t(data[0]) << 8 | std::uint8_t(data[1]));
        for (const Waiting& w : waiting_) {
            if (w.id != id) continue;
            sends_.push_back(w.client);
            write(data);
            return;
        }
    }

private:
    struct Waiting {
        std::uint16_t id;
        Client* client;
    };

    void fail(std::error_code error) {
        failed = true;
        pool_.retire(*this);
        for_each_client([&](Client& c) { c.on_udp_error(error); });
    }
    // Calls `f` on each waiting client; a client may release itself (or
    // others) from `f`, so the list is copied and each checked again.
    template <class F>
    void for_each_client(F&& f) {
        const std::vector<Waiting> now = waiting_;
        for (const Waiting& w : now)
            if (holds(*w.client)) f(*w.client);
    }

    UdpPool& pool_;
    Address server_;
    std::vector<Waiting> waiting_;
    std::deque<Client*> sends_;  // queued datagrams' clients, oldest first (null: gone)
    std::error_code deferred_error_;  // from a direct send, reported once the queue drains
};

UdpPool::UdpPool(Engine& engine) : engine_(engine) {}

UdpPool::~UdpPool() {
    idle_timer_.cancel();
    close_all();
}

Result<UdpPool::Port*> UdpPool::send(const Address& server, std::span<std::uint8_t> query, Client& client,
                                     bool fresh_id) {
    bury();
    // The server's ports that take queries (the first kPortsPerServer):
    // those found for the last query while ports_ has not changed and the
    // server is the same (one address compared per query, not one per
    // port: ports change every kQueriesPerPort / kPortsPerServer queries).
    if (mine_version_ != ports_version_ || !(mine_server_ == server)) {
        mine_count_ = 0;
        for (auto& port : ports_)
            if (mine_count_ < kPortsPerServer && port->server() == server) mine_[mine_count_++] = port.get();
        mine_server_ = server;
        mine_version_ = ports_version_;
    }
    Port* const* mine = mine_;
    const std::size_t count = mine_count_;
    Port* port = nullptr;
    if (count == kPortsPerServer) {
        // Which of them is not for anyone to predict (see the header).
        port = mine[random_id() % count];
        if (!fresh_id && port->waits_for(id_of(query))) {
            // A message with an id of its own: a port where it is unique.
            port = nullptr;
            for (std::size_t i = 0; i < count; ++i)
                if (!mine[i]->waits_for(id_of(query))) port = mine[i];
        }
    }
    if (!port) {
        auto opened = open_port(server);
        if (!opened) return unexpected(opened.error());
        port = *opened;
    }
    if (fresh_id) {
        // RFC 5452 9.2: unpredictable, and unique among the port's queries.
        std::uint16_t id;
        do id = random_id();
        while (port->waits_for(id));
        query[0] = static_cast<std::uint8_t>(id >> 8);
        query[1] = static_cast<std::uint8_t>(id & 0xFF);
    }
    port->send(query, client);
    ++in_flight_;
    if (--port->uses_left == 0) retire(*port);
    return port;
}

Result<UdpPool::Port*> UdpPool::open_port(const Address& server) {
    // A retired socket already moved to a new port serves before a new one.
    auto spare = std::find_if(spares_.begin(), spares_.end(), [&](const auto& p) { return p->server() == server; });
    if (spare != spares_.end()) {
        ports_.push_back(std::move(*spare));
        ++ports_version_;
        spares_.erase(spare);
        return ports_.back().get();
    }
    auto port = std::make_unique<Port>(*this, server);
    // connect() picks a random ephemeral port (the kernel's choice is
    // randomised), and the kernel then drops datagrams from other sources.
    if (auto connected = port->connect(server); !connected) {
        port->close();
        closed_.push_back(std::move(port));
        return unexpected(connected.error());
    }
    ++opened_;
    ports_.push_back(std::move(port));
    ++ports_version_;
    return ports_.back().get();
}

bool UdpPool::known(const Port* port) const noexcept {
    // Closed ports have forgotten their clients, and may be freed already.
    for (const auto* list : {&ports_, &retiring_})
        for (const auto& p : *list)
            if (p.get() == port) return true;
    return false;
}

void UdpPool::release(Port* port, Client& client) noexcept {
    // Null: an Exchange that already released its port.
    if (!port || !known(port) || !port->forget(client)) return;
    --in_flight_;
    if (port->retired && port->idle()) became_idle(*port);
    if (in_flight_ == 0 && !idle_timer_.active()) {
        idle_timer_ = engine_.defer(kIdleClose, [this] {
            if (in_flight_ != 0) return;  // busy again: the next lull re-arms
            ++ports_version_;
            for (auto* list : {&ports_, &spares_}) {
                for (auto& p : *list) p->retired = true;
                for (auto& p : *list) p->close();
                std::move(list->begin(), list->end(), std::back_inserter(closed_));
                list->clear();
            }
            bury();
        });
    }
}

void UdpPool::retire(Port& port) noexcept {
    if (port.retired) return;
    port.retired = true;
    auto is_port = [&](const auto& p) { return p.get() == &port; };
    if (auto it = std::find_if(ports_.begin(), ports_.end(), is_port); it != ports_.end()) {
        retiring_.push_back(std::move(*it));
        ports_.erase(it);
        ++ports_version_;
        if (port.idle()) became_idle(port);
    } else if (auto spare = std::find_if(spares_.begin(), spares_.end(), is_port); spare != spares_.end()) {
        // A spare that failed (an error that came to its old port): closed.
        port.close();
        closed_.push_back(std::move(*spare));
        spares_.erase(spare);
    }
}

void UdpPool::became_idle(Port& port) noexcept {
    // A retired port with no query left: on a new port, a spare for the
    // next open_port(); else (it failed, or its server has spares
    // enough) closed, and
    // freed later, outside whatever callback of its own we may be in.
    auto it = std::find_if(retiring_.begin(), retiring_.end(), [&](const auto& p) { return p.get() == &port; });
    if (it == retiring_.end()) return;
    const auto spares = std::count_if(spares_.begin(), spares_.end(), [&](const auto& p) { return p->server() == port.server(); });
    if (spares < std::ptrdiff_t(kPortsPerServer) && port.renew()) {
        spares_.push_back(std::move(*it));
    } else {
        port.close();
        closed_.push_back(std::move(*it));
    }
    retiring_.erase(it);
}

void UdpPool::bury() { closed_.clear(); }

void UdpPool::close_all() noexcept {
    ++ports_version_;
    for (auto* list : {&ports_, &retiring_, &spares_}) {
        for (auto& port : *list) {
            port->retired = true;
            port->forget_all();
            port->close();
            closed_.push_back(std::move(port));
        }
        list->clear();
    }
    in_flight_ = 0;
}

std::size_t UdpPool::open_ports() const noexcept {
    std::size_t n = 0;
    for (const auto* list : {&ports_, &retiring_, &spares_, &closed_})
        for (const auto& port : *list) n += port->closed() ? 0 : 1;
    return n;
}

}  // namespace pants::dns::detail
