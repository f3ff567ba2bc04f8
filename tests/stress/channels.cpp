// tests/stress/channels.cpp: the channels under test, and the coroutines that drive them.
#include "world.hpp"

using namespace std::chrono_literals;
using pants::Address;

namespace stress {

// The slot in `waiting` whose raw peer is the other end of `s` (matched by
// the peer's port), taken out of the list; null if none.
Slot* take_slot(std::deque<Slot*>& waiting, const pants::Stream& s) {
    auto remote = s.remote_address();
    if (!remote) return nullptr;
    for (auto it = waiting.begin(); it != waiting.end(); ++it) {
        if ((*it)->peer_port == remote->port()) {
            Slot* slot = *it;
            waiting.erase(it);
            return slot;
        }
    }
    return nullptr;
}

// --- coroutines the actions spawn -----------------------------------------

struct TaskCount {
    int& n;
    explicit TaskCount(int& c) : n(c) { ++n; }
    ~TaskCount() { --n; }
};

pants::Task<pants::Result<std::string>> read_copy(pants::Stream& s) {
    auto r = co_await s.read();
    if (!r) co_return pants::unexpected(r.error());
    co_return std::string(*r);
}

pants::Task<pants::Result<std::string>> receive_copy(pants::Datagram& d) {
    auto r = co_await d.receive();
    if (!r) co_return pants::unexpected(r.error());
    co_return std::string(r->data);
}

pants::Task<pants::Result<std::string>> wait_trigger(std::shared_ptr<Trigger> t) {
    co_await t->wait();
    co_return pants::unexpected(std::make_error_code(std::errc::operation_canceled));
}

bool benign(std::error_code e) {
    return e == pants::NetError::end_of_stream || e == pants::NetError::closed || e == std::errc::timed_out ||
           e == std::errc::operation_canceled;
}

// mode 0: plain; 1: with_timeout; 2: when_any against a trigger.
pants::Task<> co_read(World& w, Slot& slot, int mode, std::chrono::milliseconds limit, std::shared_ptr<Trigger> trig) {
    TaskCount count(w.tasks);
    ++slot.pending_reads;
    auto make = [&]() -> pants::Task<pants::Result<std::string>> {
        // Not a coroutine itself: returns the Task, so no capture dies early.
        return slot.is_stream() ? read_copy(*slot.stream) : receive_copy(*slot.datagram);
    };
    pants::Result<std::string> r;
    if (mode == 0) {
        r = co_await make();
    } else if (mode == 1) {
        r = co_await pants::with_timeout(*w.engine, limit, make());
    } else {
        std::vector<pants::Task<pants::Result<std::string>>> branches;
        branches.push_back(make());
        branches.push_back(wait_trigger(trig));
        auto [index, value] = co_await pants::when_any(std::move(branches));
        (void)index;
        r = std::move(value);
    }
    --slot.pending_reads;
    if (r) {
        if (slot.is_stream())
            slot.frame(*r);
        else
            slot.dg_got.push_back(*r);
    } else if (!benign(r.error())) {
        slot.error("co_await read", r.error());
    }
}

pants::Task<> co_write(World& w, Slot& slot, std::string data) {
    TaskCount count(w.tasks);
    ++slot.pending_writes;
    struct Done {
        int& n;
        ~Done() { --n; }
    } done{slot.pending_writes};
    if (slot.is_stream()) {
        auto r = co_await slot.stream->write(data);
        if (!r && !benign(r.error())) slot.error("co_await write", r.error());
    } else {
        auto r = co_await slot.datagram->send_to(data, slot.peer_address);
        if (!r && !benign(r.error())) slot.error("co_await send_to", r.error());
    }
}

pants::Task<> co_connect(World& w, Slot& slot) {
    TaskCount count(w.tasks);
    auto r = co_await slot.stream->connect(w.raw_address);
    if (!r) slot.error("co_await connect", r.error());
}

// Server(handler): the stream lives until the slot's release fires.
pants::Task<> handler(pants::Stream& s) {
    World& w = *g_world;
    TaskCount count(w.tasks);
    Slot* found = take_slot(w.awaiting_handler, s);
    if (!found) co_return;  // not ours
    Slot& slot = *found;
    slot.stream = &s;
    auto release = slot.release;
    co_await release->wait();
    // The server ends the stream and frees it: it is no longer ours.
    slot.stream = nullptr;
}

// Server<>: takes streams with co_await accept() until told to stop.
pants::Task<> acceptor(World& w) {
    TaskCount count(w.tasks);
    w.acceptor_running = true;
    for (;;) {
        auto s = co_await w.acceptor_server->accept();
        if (w.in_acceptor_close) w.accept_inside_close = true;
        if (!s) break;
        Slot* found = take_slot(w.awaiting_accept, **s);
        if (!found) continue;  // not ours: dropped
        Slot& slot = *found;
        slot.owned = std::move(*s);
        slot.stream = slot.owned.get();
    }
    w.acceptor_running = false;
}

// --- building the channels ------------------------------------------------

std::uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    return Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len).port();
}

// Connects slot's raw peer to `a`.
void raw_connect(Slot& slot, const Address& a) {
    int fd = ::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    REQUIRE(::connect(fd, a.data(), a.size()) == 0);
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    slot.peer = fd;
    slot.peer_port = local_port(fd);
}

void configure(World& w, Slot& slot) {
    if (slot.lines && slot.stream) {
        slot.stream->read_delimiter = "\n";
        slot.stream->buffer_size = 256;
    }
    if (slot.stream && w.chance(0.3)) slot.stream->high_water = std::size_t(w.uniform(1024, 65536));
}

void make_channels(World& w) {
    pants::Engine& e = *w.engine;
    w.cb_server = std::make_unique<pants::Server<Conn>>(e);
    REQUIRE(w.cb_server->listen(test::loopback()));
    w.handler_server = std::make_unique<pants::Server<>>(handler, e);
    REQUIRE(w.handler_server->listen(test::loopback()));
    w.acceptor_server = std::make_unique<pants::Server<>>(e);
    REQUIRE(w.acceptor_server->listen(test::loopback()));
    w.raw_listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    Address any = test::loopback();
    REQUIRE(::bind(w.raw_listener, any.data(), any.size()) == 0);
    REQUIRE(::listen(w.raw_listener, 64) == 0);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(w.raw_listener, reinterpret_cast<sockaddr*>(&ss), &len);
    w.raw_address = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    w.engine->spawn(acceptor(w));

    const int n = int(w.uniform(4, 10));
    std::vector<Slot*> connecting;  // clients whose raw peer is accepted below
    for (int i = 0; i < n; ++i) {
        Slot& slot = w.slots.emplace_back();
        slot.id = i;
        slot.kind = Kind(w.uniform(0, 5));
        slot.lines = slot.is_stream() && w.chance(0.25);
        switch (slot.kind) {
            case Kind::cb_conn:
                raw_connect(slot, *w.cb_server->local_address());
                w.awaiting_cb_conn.push_back(&slot);
                break;
            case Kind::coro_handler:
                slot.release = std::make_shared<Trigger>(e);
                w.awaiting_handler.push_back(&slot);
                raw_connect(slot, *w.handler_server->local_address());
                break;
            case Kind::coro_accepted:
                w.awaiting_accept.push_back(&slot);
                raw_connect(slot, *w.acceptor_server->local_address());
                break;
            case Kind::cb_client: {
                auto c = std::make_unique<Probe<pants::Client>>(e);
                c->slot = &slot;
                c->config = &w.config;
                slot.observable = true;
                slot.stream = c.get();
                slot.owned = std::move(c);
                slot.stream->connect(w.raw_address);
                connecting.push_back(&slot);
                break;
            }
            case Kind::coro_connect: {
                auto c = std::make_unique<Probe<pants::Stream>>(e);
                c->slot = &slot;
                c->config = &w.config;
                slot.observable = true;
                slot.stream = c.get();
                slot.owned = std::move(c);
                w.engine->spawn(co_connect(w, slot));
                connecting.push_back(&slot);
                break;
            }
            case Kind::datagram: {
                auto d = std::make_unique<ProbeDatagram>(e);
                d->slot = &slot;
                slot.observable = true;
                REQUIRE(d->listen(Address::loopback_v4(0)));
                slot.channel_address = *d->local_address();
                slot.datagram = std::move(d);
                slot.peer = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                Address a = Address::loopback_v4(0);
                REQUIRE(::bind(slot.peer, a.data(), a.size()) == 0);
                len = sizeof ss;
                ::getsockname(slot.peer, reinterpret_cast<sockaddr*>(&ss), &len);
                slot.peer_address = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
                int big = 1 << 21;
                ::setsockopt(slot.peer, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
                break;
            }
        }
    }
    // Pair every connection with its slot. Connections arrive in the order
    // the raw peers connected (one listener each), clients in the order they
    // connected to the raw listener.
    std::size_t next_client = 0;
    bool ok = w.settle([&] {
        for (pants::Stream* s : w.cb_server->connections()) {
            auto* c = static_cast<Conn*>(s);
            if (c->slot) continue;
            Slot* found = take_slot(w.awaiting_cb_conn, *c);
            if (!found) continue;
            Slot& slot = *found;
            c->slot = &slot;
            c->config = &w.config;
            slot.observable = true;
            slot.stream = c;
        }
        while (next_client < connecting.size()) {
            sockaddr_storage from{};
            socklen_t from_len = sizeof from;
            int fd = ::accept4(w.raw_listener, reinterpret_cast<sockaddr*>(&from), &from_len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) break;
            auto port = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&from), from_len).port();
            bool mine = false;
            for (Slot* c : connecting) {
                auto local = c->stream->local_address();
                if (c->peer < 0 && local && local->port() == port) {
                    c->peer = fd;
                    mine = true;
                    ++next_client;
                    break;
                }
            }
            if (!mine) ::close(fd);
        }
        bool connected = true;
        for (Slot* s : connecting) connected &= s->stream->connected();
        return w.awaiting_cb_conn.empty() && w.awaiting_handler.empty() && w.awaiting_accept.empty() &&
               next_client == connecting.size() && connected;
    }, 10s);
    REQUIRE_MESSAGE(ok, "seed " << w.seed << ": channels did not connect");
    for (Slot& slot : w.slots) configure(w, slot);
}

}  // namespace stress
