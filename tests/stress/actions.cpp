// tests/stress/actions.cpp: the random actions, one function each.
#include "world.hpp"

using namespace std::chrono_literals;
using pants::Address;

namespace stress {

// --- the actions, one function each ---------------------------------------

std::string chunk(World& w, Slot& slot) {
    std::size_t n = w.chance(0.1) ? std::size_t(w.uniform(16384, 262144)) : std::size_t(w.uniform(1, 2048));
    if (!slot.is_stream()) n = std::size_t(w.uniform(0, 1200));
    if (slot.out.size() > (4u << 20)) n = 1;  // bound what one run moves
    return w.bytes(n);
}

bool open_stream(Slot& slot) { return slot.stream && !slot.stream->closing(); }
bool open_datagram(Slot& slot) { return slot.datagram && !slot.datagram->closing(); }
bool open(Slot& slot) { return slot.is_stream() ? open_stream(slot) : open_datagram(slot); }

void note_closing(Slot& slot) {
    if (slot.alive() && !open(slot) && !slot.ended && !slot.closed_by_us) slot.closing_seen = true;
}

void act_write(World& w, Slot& slot) {
    note_closing(slot);
    if (!open(slot)) return;
    std::string data = chunk(w, slot);
    if (slot.is_stream()) {
        slot.out += data;
        slot.stream->write(data);
    } else {
        slot.dg_out.push_back(data);
        slot.datagram->write(data, slot.peer_address);
    }
}

void act_co_write(World& w, Slot& slot) {
    note_closing(slot);
    if (!open(slot)) return;
    std::string data = chunk(w, slot);
    if (slot.is_stream())
        slot.out += data;
    else
        slot.dg_out.push_back(data);
    w.engine->spawn(co_write(w, slot, std::move(data)));
}

void act_end(World& w, Slot& slot) {
    note_closing(slot);
    if (!open(slot)) return;
    // A handler that returns frees its stream: with a co_await pending on
    // it, that is destroy_busy.
    if (slot.kind == Kind::coro_handler && slot.busy() && !w.config.on("destroy_busy")) return;
    slot.ended = true;
    if (slot.kind == Kind::coro_handler) {
        slot.release->fire();  // the server ends the stream when the handler returns
    } else if (slot.is_stream()) {
        slot.stream->end();
    } else {
        slot.datagram->end();
    }
}

void act_close(World&, Slot& slot) {
    note_closing(slot);
    if (!slot.alive()) return;
    slot.closed_by_us = true;  // also after end(): close() drops what is queued
    if (slot.is_stream())
        slot.stream->close();
    else
        slot.datagram->close();
}

void destroy(World& w, Slot& slot) {
    switch (slot.kind) {
        case Kind::cb_conn:
            act_close(w, slot);  // the server owns it: closing is how it goes away
            return;
        case Kind::coro_handler:
            if (open(slot)) slot.ended = true;  // the server ends it when the handler returns
            slot.release->fire();
            return;
        default:
            if (!slot.ended) slot.closed_by_us = true;
            slot.destroyed = true;
            slot.stream = nullptr;
            slot.owned.reset();
            slot.datagram.reset();
    }
}

void act_destroy(World& w, Slot& slot) {
    if (!slot.alive() || slot.busy()) return;
    if (slot.kind == Kind::coro_handler && slot.release->fired) return;
    destroy(w, slot);
}

void act_destroy_busy(World& w, Slot& slot) {
    if (!slot.alive() || !slot.busy()) return;
    if (slot.kind == Kind::coro_handler && slot.release->fired) return;
    destroy(w, slot);
}

void act_end_destroy(World& w, Slot& slot) {
    note_closing(slot);
    // Only kinds we own and can destroy (a server's connection is closed).
    if (!open(slot) || slot.busy() || slot.kind == Kind::coro_handler || slot.kind == Kind::cb_conn) return;
    act_write(w, slot);
    act_write(w, slot);
    act_end(w, slot);
    destroy(w, slot);
}

void act_co_read(World& w, Slot& slot, int mode) {
    if (!slot.alive() || slot.pending_reads > 0) return;
    if (slot.kind == Kind::coro_handler && slot.release->fired) return;
    slot.coroutine_reading = true;
    auto trig = std::make_shared<Trigger>(*w.engine);
    slot.triggers.push_back(trig);
    w.engine->spawn(co_read(w, slot, mode, std::chrono::milliseconds(w.uniform(0, 3)), trig));
}

void act_cancel(World&, Slot& slot) {
    for (auto& t : slot.triggers)
        if (auto p = t.lock()) p->fire();
    slot.triggers.clear();
}

void act_handover(World&, Slot& slot) {
    if (!slot.alive() || slot.pending_reads > 0) return;
    slot.coroutine_reading = false;
    if (slot.is_stream())
        slot.stream->callbacks();
    else
        slot.datagram->callbacks();
}

void act_turn(World& w, Slot&) { w.turns(int(w.uniform(1, 5))); }

void peer_send(World&, Slot& slot, std::string data) {
    if (slot.peer < 0) return;
    if (slot.is_stream()) {
        if (slot.peer_fin) return;
        ssize_t n = ::send(slot.peer, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) slot.in.append(data, 0, std::size_t(n));
        // A reset reaches the first call that looks: note it here, or a
        // later recv() sees a plain end of stream.
        if (n < 0 && (errno == ECONNRESET || errno == EPIPE)) slot.peer_saw_reset = true;
    } else {
        ssize_t n = ::sendto(slot.peer, data.data(), data.size(), MSG_DONTWAIT, slot.channel_address.data(),
                             slot.channel_address.size());
        if (n >= 0) slot.dg_in.push_back(data);
    }
}

std::string line(World& w) {
    std::string s = "L" + std::to_string(w.uniform(0, 1u << 30)) + std::string(w.uniform(0, 60), 'p') + "\n";
    return s;
}

void act_peer_send(World& w, Slot& slot) {
    if (slot.lines) {
        std::string s;
        for (int i = int(w.uniform(1, 4)); i > 0; --i) s += line(w);
        peer_send(w, slot, s);
    } else {
        peer_send(w, slot, w.bytes(std::size_t(w.uniform(slot.is_stream() ? 1 : 0, 512))));
    }
}

void act_peer_burst(World& w, Slot& slot) {
    if (!slot.is_stream()) {
        for (int i = int(w.uniform(10, 100)); i > 0; --i) peer_send(w, slot, w.bytes(std::size_t(w.uniform(0, 1400))));
    } else if (slot.lines) {
        std::string s;
        while (s.size() < 100000) s += line(w);
        peer_send(w, slot, s);
    } else {
        peer_send(w, slot, w.bytes(std::size_t(w.uniform(65536, 1 << 20))));
    }
}

void act_peer_garbage(World& w, Slot& slot) {
    if (slot.is_stream()) {
        // On a line channel: more than buffer_size without a newline.
        peer_send(w, slot, w.bytes(std::size_t(w.uniform(300, 5000)), true));
    } else {
        // Oversized datagrams (reported as message_size and dropped) and empty ones.
        // (on_read gets them as message_size errors; a coroutine's
        // receive() takes up to buffer_size, so it may get them whole).
        peer_send(w, slot, w.bytes(std::size_t(w.uniform(17000, 60000))));
        peer_send(w, slot, "");
    }
}

void act_peer_fin(World&, Slot& slot) {
    if (!slot.is_stream() || slot.peer < 0 || slot.peer_fin) return;
    ::shutdown(slot.peer, SHUT_WR);
    slot.peer_fin = true;
}

void act_peer_rst(World&, Slot& slot) {
    if (!slot.is_stream() || slot.peer < 0) return;
    note_closing(slot);
    linger lg{1, 0};
    ::setsockopt(slot.peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(std::exchange(slot.peer, -1));
    slot.peer_rst = true;
}

// Reads what is there (at most `max`); true at the end of the stream.
bool peer_read(Slot& slot, std::size_t max) {
    if (slot.peer < 0) return true;
    char buf[65536];
    while (max > 0) {
        if (slot.is_stream()) {
            ssize_t n = ::recv(slot.peer, buf, std::min(sizeof buf, max), MSG_DONTWAIT);
            if (n > 0) {
                slot.peer_got.append(buf, std::size_t(n));
                max -= std::size_t(n);
                continue;
            }
            if (n == 0) slot.peer_eof = true;
            if (n < 0 && errno == ECONNRESET) slot.peer_saw_reset = true;
            return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        }
        ssize_t n = ::recv(slot.peer, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) return false;
        slot.dg_peer_got.emplace_back(buf, std::size_t(n));
        max -= std::min(max, std::size_t(n) + 1);
    }
    return false;
}

void act_peer_read(World& w, Slot& slot) { peer_read(slot, std::size_t(w.uniform(1, 4096))); }
void act_peer_drain(World&, Slot& slot) { peer_read(slot, std::size_t(-1)); }

void act_close_acceptor(World& w, Slot&) {
    if (!w.acceptor_server || !w.acceptor_server->listening() || !w.awaiting_accept.empty()) return;
    w.in_acceptor_close = true;
    w.acceptor_server->close();
    w.in_acceptor_close = false;
}

using Action = void (*)(World&, Slot&);
const std::map<std::string, Action>& actions() {
    static const std::map<std::string, Action> table = {
        {"write", act_write},
        {"end", act_end},
        {"close", act_close},
        {"destroy", act_destroy},
        {"destroy_busy", act_destroy_busy},
        {"end_destroy", act_end_destroy},
        {"co_read", [](World& w, Slot& s) { act_co_read(w, s, 0); }},
        {"co_read_timeout", [](World& w, Slot& s) { act_co_read(w, s, 1); }},
        {"co_read_any", [](World& w, Slot& s) { act_co_read(w, s, 2); }},
        {"co_write", act_co_write},
        {"cancel", act_cancel},
        {"handover", act_handover},
        {"turn", act_turn},
        {"peer_send", act_peer_send},
        {"peer_burst", act_peer_burst},
        {"peer_garbage", act_peer_garbage},
        {"peer_fin", act_peer_fin},
        {"peer_rst", act_peer_rst},
        {"peer_read", act_peer_read},
        {"peer_drain", act_peer_drain},
        {"close_acceptor", act_close_acceptor},
    };
    return table;
}

// Ending actions are rarer, so that channels live long enough to do things.
double weight(const std::string& name) {
    if (name == "end" || name == "close" || name == "destroy" || name == "destroy_busy" || name == "end_destroy" ||
        name == "peer_rst" || name == "peer_fin" || name == "close_acceptor")
        return 0.3;
    if (name == "turn" || name == "write" || name == "peer_send" || name == "peer_read") return 3;
    return 1;
}

}  // namespace stress
