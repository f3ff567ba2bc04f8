// tests/stress/run.cpp: one run from start to end: act, finish, check the invariants, report.
#include "world.hpp"

using namespace std::chrono_literals;
using pants::Address;

namespace stress {

// --- the end of a run -----------------------------------------------------

void finish(World& w) {
    for (Slot& slot : w.slots) act_cancel(w, slot);
    if (!w.config.on("destroy_busy")) {
        // Returning from a handler frees its stream: first let its pending
        // writes drain, and end its pending reads with a FIN from the peer.
        for (Slot& slot : w.slots)
            if (slot.kind == Kind::coro_handler && slot.pending_reads > 0) act_peer_fin(w, slot);
        w.settle([&] {
            bool idle = true;
            for (Slot& slot : w.slots) {
                if (slot.is_stream() && slot.peer >= 0 && !slot.peer_eof) peer_read(slot, std::size_t(-1));
                if (slot.kind == Kind::coro_handler && slot.alive()) idle &= !slot.busy();
            }
            return idle;
        }, 10s);
    }
    for (Slot& slot : w.slots) {
        note_closing(slot);
        if (slot.kind == Kind::coro_handler && slot.release && !slot.release->fired) {
            if (open(slot)) slot.ended = true;
            slot.release->fire();
        } else if (slot.alive() && open(slot)) {
            slot.ended = true;
            if (slot.is_stream())
                slot.stream->end();
            else
                slot.datagram->end();
        }
    }
    if (w.acceptor_server && w.acceptor_server->listening()) w.acceptor_server->close();
    // Everyone reads to the end; every channel we can see closes.
    bool settled = w.settle([&] {
        bool done = w.tasks == 0;
        for (Slot& slot : w.slots) {
            if (slot.is_stream()) {
                if (slot.peer >= 0 && !slot.peer_eof) done &= peer_read(slot, std::size_t(-1));
            } else {
                peer_read(slot, std::size_t(-1));
            }
            if (slot.alive() && slot.observable) done &= slot.closes > 0;
            if (slot.kind == Kind::coro_handler) done &= slot.stream == nullptr;
        }
        return done;
    }, 10s);
    if (!settled) {
        std::ostringstream o;
        o << "did not settle within 10 s: tasks " << w.tasks;
        for (Slot& slot : w.slots)
            o << "; #" << slot.id << " " << kind_name(slot.kind) << (slot.alive() ? " alive" : "")
              << (slot.peer_eof ? " peer_eof" : "") << " closes " << slot.closes << " pending_reads "
              << slot.pending_reads;
        w.fail(o.str());
    }
    // A Datagram destroyed after end() goes on sending what it queued, but
    // it has no on_close left to say when it is done, and the settle above
    // may end without a turn: on io_uring its last sendmsgs can still be in
    // the submission queue (they leave with the next io_uring_enter). Run
    // turns until its peer has them all; check() reports any that is lost.
    w.settle([&] {
        bool done = true;
        for (Slot& slot : w.slots) {
            if (slot.is_stream() || !slot.destroyed || !slot.ended || slot.closed_by_us) continue;
            peer_read(slot, std::size_t(-1));
            done &= slot.dg_peer_got.size() >= slot.dg_out.size();
        }
        return done;
    }, 5s);
    // Datagrams: what was sent before the channel closed is in the peer's
    // socket by now (loopback); take it.
    for (Slot& slot : w.slots)
        if (!slot.is_stream()) peer_read(slot, std::size_t(-1));
}

bool is_prefix(const std::string& a, const std::string& b) { return a.size() <= b.size() && b.compare(0, a.size(), a) == 0; }

bool is_subsequence(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::size_t j = 0;
    for (const auto& x : a) {
        while (j < b.size() && b[j] != x) ++j;
        if (j == b.size()) return false;
        ++j;
    }
    return true;
}

// Each chunk occurs in `all` after the previous one.
bool in_order(const std::vector<std::string>& chunks, const std::string& all) {
    std::size_t at = 0;
    for (const auto& c : chunks) {
        auto pos = all.find(c, at);
        if (pos == std::string::npos) return false;
        at = pos + c.size();
    }
    return true;
}

std::size_t first_difference(const std::string& a, const std::string& b) {
    std::size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return i;
}

void check(World& w) {
    for (Slot& slot : w.slots) {
        std::ostringstream who;
        who << "#" << slot.id << " " << kind_name(slot.kind) << (slot.lines ? " (lines)" : "");
        auto fail = [&](const std::string& what) { w.fail(who.str() + ": " + what); };
        // on_close exactly once, for channels we did not destroy.
        if (slot.observable && !slot.destroyed && slot.closes != 1)
            fail("on_close ran " + std::to_string(slot.closes) + " times");
        if (slot.observable && slot.closes > 1) fail("on_close ran " + std::to_string(slot.closes) + " times");
        if (!slot.close_address_ok) fail("remote_address() failed inside on_close (issue 8.6)");
        const bool clean = slot.ended && !slot.closed_by_us && !slot.peer_rst && slot.errors.empty() &&
                           !slot.closing_seen;
        bool send_failed = false;
        for (auto& e : slot.errors)
            send_failed |= e.find("write") != std::string::npos || e.find("send") != std::string::npos ||
                           e.find("on_error") == 0;
        const bool dg_clean = slot.ended && !slot.closed_by_us && !send_failed;
        if (slot.is_stream()) {
            if (!is_prefix(slot.peer_got, slot.out))
                fail("peer got bytes not queued, or out of order, at offset " +
                     std::to_string(first_difference(slot.peer_got, slot.out)) + " of " +
                     std::to_string(slot.out.size()));
            else if (clean && (slot.peer_eof || slot.peer_saw_reset) && slot.peer_got.size() != slot.out.size() &&
                     (w.config.on("linger") || !slot.peer_saw_reset))
                fail("ended cleanly but the peer got " + std::to_string(slot.peer_got.size()) + " of " +
                     std::to_string(slot.out.size()) + " bytes queued" +
                     (slot.peer_saw_reset ? " (the peer got ECONNRESET: closed with unread input?)" : ""));
            // Frames our class did not see (a plain Stream's on_read drops
            // them) leave gaps; what a coroutine read must still be in order.
            if (!slot.observable && !in_order(slot.chunks, slot.in))
                fail("coroutine got bytes not sent, or out of order");
            if (slot.observable && !slot.lines && !is_prefix(slot.got, slot.in))
                fail("channel got bytes not sent, or out of order, at offset " +
                     std::to_string(first_difference(slot.got, slot.in)) + " (got " +
                     std::to_string(slot.got.size()) + ", sent " + std::to_string(slot.in.size()) + ")");
            if (slot.observable && slot.lines && !is_prefix(slot.got, slot.in)) {
                // Garbage may have been cut into a frame before the overflow
                // was noticed; only complete lines sent must be in order.
                bool overflowed = false;
                for (auto& e : slot.errors) overflowed |= e.find("on_overflow_error") == 0 || e.find("co_await") == 0;
                if (!overflowed)
                    fail("line channel got frames not sent, or out of order, at offset " +
                         std::to_string(first_difference(slot.got, slot.in)));
            }
            // No error lost: bytes queued and never delivered must have
            // been reported, unless we closed or destroyed it first. (After
            // a peer's RST, bytes the kernel had taken are lost where no
            // system call can see it: not counted.)
            if ((slot.ended || slot.closing_seen) && !slot.closed_by_us && slot.observable && slot.errors.empty() &&
                slot.peer_got.size() < slot.out.size() && !slot.peer_rst && (slot.peer_eof || slot.peer_saw_reset) &&
                (w.config.on("linger") || !slot.peer_saw_reset))
                fail("lost " + std::to_string(slot.out.size() - slot.peer_got.size()) +
                     " queued bytes and reported no error");
        } else {
            if (!is_subsequence(slot.dg_peer_got, slot.dg_out))
                fail("peer got datagrams not queued, or out of order (" + std::to_string(slot.dg_peer_got.size()) +
                     " got, " + std::to_string(slot.dg_out.size()) + " queued)");
            else if (dg_clean && slot.dg_peer_got.size() != slot.dg_out.size())
                fail("ended cleanly but the peer got " + std::to_string(slot.dg_peer_got.size()) + " of " +
                     std::to_string(slot.dg_out.size()) + " datagrams queued" +
                     (slot.destroyed ? " (destroyed after end(): issue 8.3)" : ""));
            if (!is_subsequence(slot.dg_got, slot.dg_in))
                fail("channel got datagrams not sent, or out of order (" + std::to_string(slot.dg_got.size()) +
                     " got, " + std::to_string(slot.dg_in.size()) + " sent)");
        }
    }
    if (w.config.on("accept_turn") && w.accept_inside_close)
        w.fail("co_await accept() resumed inside Server::close() (issue 8.4)");
}

// Destroys every channel and server; checks the engine is idle.
void teardown(World& w) {
    for (Slot& slot : w.slots) {
        slot.owned.reset();
        slot.stream = nullptr;
        slot.datagram.reset();
        if (slot.peer >= 0) ::close(std::exchange(slot.peer, -1));
    }
    w.cb_server.reset();
    w.handler_server.reset();
    w.acceptor_server.reset();
    if (w.raw_listener >= 0) ::close(std::exchange(w.raw_listener, -1));
    pants::Engine& e = *w.engine;
    bool idle = w.settle([&] { return e.backend().in_flight() == 0 && e.detached_tasks() == 0 && w.tasks == 0; }, 5s);
    w.turns(3);
    if (!idle)
        w.fail("engine not idle: " + std::to_string(e.backend().in_flight()) + " operations in flight, " +
               std::to_string(e.detached_tasks()) + " detached coroutines, " + std::to_string(w.tasks) + " of ours");
    if (e.backend().buffers_lent() != 0)
        w.fail(std::to_string(e.backend().buffers_lent()) + " receive buffers never given back");
    if (e.pending_timers() != 0) w.fail(std::to_string(e.pending_timers()) + " timers left");
}

// If the run crashes (ASan, a signal), say which seed it was and what it
// had done so far: the usual report never runs then.
struct CurrentRun {
    std::uint64_t seed = 0;
    const std::vector<std::string>* log = nullptr;
} current_run;

// The backend the runs use (the engine's own name for it: PANTS_BACKEND
// may be unset), for the replay line, which is printed after a run.
std::string_view run_backend = "?";

// One run: builds, acts, finishes, checks. The failures, or none.
std::vector<std::string> run_once(std::uint64_t seed, const Config& config, std::vector<std::string>& log,
                                  std::size_t& action_count) {
    const int fds_before = test::count_fds();
    World w(seed, config);
    g_world = &w;
    current_run = {seed, &w.log};
    w.engine = std::make_unique<pants::Engine>();
    run_backend = w.engine->backend_name();
    int thrown = 0;
    w.engine->set_error_handler([&](std::exception_ptr) { ++thrown; });
    make_channels(w);

    std::vector<std::string> names;
    std::vector<double> weights;
    for (auto& [name, fn] : actions())
        if (config.on(name)) {
            names.push_back(name);
            weights.push_back(weight(name));
        }
    std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
    const int steps = names.empty() ? 0 : int(w.uniform(20, 200));
    for (int i = 0; i < steps; ++i) {
        const std::string& name = names[pick(w.rng)];
        Slot& slot = w.slots[std::size_t(w.uniform(0, w.slots.size() - 1))];
        w.note(name + " #" + std::to_string(slot.id) + " " + kind_name(slot.kind));
        actions().at(name)(w, slot);
        if (config.verbose)
            std::fprintf(stderr, "    -> #%d %s%s reads %d writes %d queued %zu pending %zu peer got %zu\n", slot.id,
                         slot.alive() ? "alive" : "gone", slot.alive() && !open(slot) ? " closing" : "",
                         slot.pending_reads, slot.pending_writes, slot.out.size(),
                         slot.is_stream() && slot.stream ? slot.stream->pending_write_bytes() : 0,
                         slot.peer_got.size());
        if (w.chance(0.5)) w.engine->poll(0ms);
    }
    action_count = std::size_t(steps);
    finish(w);
    check(w);
    teardown(w);
    if (thrown) w.fail(std::to_string(thrown) + " exceptions reached the engine's error handler");
    w.engine.reset();
    g_world = nullptr;
    current_run = {};
    const int fds_after = test::count_fds();
    if (fds_after != fds_before)
        w.fail("descriptors: " + std::to_string(fds_before) + " before the run, " + std::to_string(fds_after) + " after");
    log = std::move(w.log);
    return std::move(w.failures);
}

void print_replay(std::uint64_t seed) {
    const char* actions = std::getenv("PANTS_STRESS_ACTIONS");
    std::fprintf(stderr, "  replay: PANTS_BACKEND=%.*s PANTS_STRESS_SEED=%llu%s%s build/tests/test_stress_lifecycle\n",
                 int(run_backend.size()), run_backend.data(), (unsigned long long)seed,
                 actions ? " PANTS_STRESS_ACTIONS=" : "", actions ? actions : "");
}

void died() {
    if (!current_run.log) return;
    std::fprintf(stderr, "stress_lifecycle: seed %llu CRASHED; actions so far (%zu):\n",
                 (unsigned long long)current_run.seed, current_run.log->size());
    for (auto& a : *current_run.log) std::fprintf(stderr, "    %s\n", a.c_str());
    print_replay(current_run.seed);
}

extern "C" void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

void on_fatal_signal(int sig) {
    died();
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

void install_crash_report() {
    if (&__sanitizer_set_death_callback) __sanitizer_set_death_callback(died);
    std::signal(SIGSEGV, on_fatal_signal);
    std::signal(SIGABRT, on_fatal_signal);
    std::signal(SIGBUS, on_fatal_signal);
}

void report(std::uint64_t seed, const std::vector<std::string>& failures, const std::vector<std::string>& log) {
    std::fprintf(stderr, "stress_lifecycle: seed %llu FAILED on %.*s\n", (unsigned long long)seed,
                 int(run_backend.size()), run_backend.data());
    for (auto& f : failures) std::fprintf(stderr, "  - %s\n", f.c_str());
    std::fprintf(stderr, "  actions (%zu):\n", log.size());
    for (auto& a : log) std::fprintf(stderr, "    %s\n", a.c_str());
    print_replay(seed);
}

}  // namespace stress
