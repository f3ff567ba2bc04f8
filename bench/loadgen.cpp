// bench/loadgen.cpp: a TCP echo load generator, for measuring an echo server.
//
// Deliberately does not use Pants: plain epoll (edge-triggered) and threads,
// so that it measures the server under test and not the client library.
//
// Each of N connections keeps DEPTH messages of SIZE bytes in flight. A
// message is timestamped when it is queued for sending and matched when its
// last byte comes back (echo preserves order, so the k-th SIZE bytes received
// are the k-th message). Every echoed byte is compared with what was sent, so
// lost, duplicated or corrupted bytes are caught and counted as errors.
//
// After a warm-up, the measurement window lasts --duration seconds; then no
// new messages are sent, the messages still in flight are drained (bounded in
// time: if they never come back, that is reported), and the program exits.
//
//   build-release/bench/loadgen --port 4000 --connections 50 --size 64
//       --pipeline 1 --duration 5 --threads 1 [--warmup 0.5] [--csv]
//
// Counted mode (bench/callgrind.sh): --messages M makes exactly W warm-up
// messages (--warmup-messages W, default 0) and then exactly M measured ones,
// spread evenly over the connections, instead of running for a time. After
// each of the two stages every connection is idle (all its messages echoed)
// and, with --checkpoint CMD, `CMD warmup` and then `CMD measured` run
// (through /bin/sh) before anything else is sent or closed, so that a
// profiler can be told to dump its counters exactly between the stages.
// secs is then the measured stage's wall time. In timed mode --checkpoint
// runs `CMD start` right before the measurement window and `CMD end` right
// after it (bench/echo.sh reads the server's CPU time there).
//
// Output, one line on stdout:
//   conns=50 size=64 pipeline=1 secs=5.00 msgs=... msgs/s=... MB/s=...
//       p50_us=... p99_us=... p999_us=... max_us=... errors=0
// With --csv, stdout gets only a CSV line instead (the human line goes to
// stderr); --csv-header prints its header. MB/s counts echoed bytes in one
// direction, MB = 10^6 bytes. Exit status: 0 ok, 1 bad usage or cannot
// connect, 2 the run finished but saw errors (see stderr).
//
// Only loopback is allowed (127.0.0.0/8, ::1, "localhost"): this tool floods
// its peer and must not be pointed at someone else's machine.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    int port = 4000;
    int connections = 1;
    std::size_t size = 64;
    int pipeline = 1;
    double duration = 5.0;
    double warmup = 0.5;
    int threads = 1;
    bool csv = false;
    // Counted mode: messages > 0.
    std::uint64_t messages = 0;
    std::uint64_t warmup_messages = 0;
    std::string checkpoint;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "loadgen: %s\n"
                 "usage: loadgen [--host 127.0.0.1] [--port 4000] [--connections N] [--size BYTES]\n"
                 "               [--pipeline DEPTH] [--duration SECONDS] [--warmup SECONDS]\n"
                 "               [--threads T] [--csv] [--csv-header]\n"
                 "               [--messages M [--warmup-messages W] [--checkpoint CMD]]\n",
                 why);
    std::exit(1);
}

long parse_long(const char* s, long lo, long hi, const char* what) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) usage(what);
    return v;
}

double parse_seconds(const char* s, const char* what) {
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    if (end == s || *end || !(v >= 0) || v > 86400) usage(what);
    return v;
}

const char* csv_header = "conns,size,pipeline,secs,msgs,msgs_per_s,mb_per_s,p50_us,p99_us,p999_us,max_us,errors";

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage("missing value after an option");
            return argv[++i];
        };
        if (a == "--host") o.host = value();
        else if (a == "--port") o.port = int(parse_long(value(), 1, 65535, "bad --port"));
        else if (a == "--connections") o.connections = int(parse_long(value(), 1, 100000, "bad --connections"));
        else if (a == "--size") o.size = std::size_t(parse_long(value(), 1, 1 << 24, "bad --size"));
        else if (a == "--pipeline") o.pipeline = int(parse_long(value(), 1, 4096, "bad --pipeline"));
        else if (a == "--duration") o.duration = parse_seconds(value(), "bad --duration");
        else if (a == "--warmup") o.warmup = parse_seconds(value(), "bad --warmup");
        else if (a == "--threads") o.threads = int(parse_long(value(), 1, 256, "bad --threads"));
        else if (a == "--messages") o.messages = std::uint64_t(parse_long(value(), 1, 1L << 40, "bad --messages"));
        else if (a == "--warmup-messages")
            o.warmup_messages = std::uint64_t(parse_long(value(), 0, 1L << 40, "bad --warmup-messages"));
        else if (a == "--checkpoint") o.checkpoint = value();
        else if (a == "--csv") o.csv = true;
        else if (a == "--csv-header") { std::puts(csv_header); std::exit(0); }
        else if (a == "--help" || a == "-h") usage("help");
        else usage(("unknown option " + std::string(a)).c_str());
    }
    if (o.duration <= 0) usage("--duration must be > 0");
    if (!o.messages && o.warmup_messages) usage("--warmup-messages needs --messages");
    o.threads = std::min(o.threads, o.connections);
    return o;
}

/// The loopback address to connect to, or exits: only loopback is allowed.
sockaddr_storage loopback_address(const Options& o, socklen_t& len) {
    sockaddr_storage ss{};
    const std::string host = o.host == "localhost" ? "127.0.0.1" : o.host;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) usage("refusing a non-loopback host (127.0.0.0/8 or ::1 only)");
        v4->sin_family = AF_INET;
        v4->sin_port = htons(std::uint16_t(o.port));
        len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) usage("refusing a non-loopback host (127.0.0.0/8 or ::1 only)");
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(std::uint16_t(o.port));
        len = sizeof(sockaddr_in6);
    } else {
        usage("--host must be an IP literal on loopback (or localhost)");
    }
    return ss;
}

/// Log-linear latency histogram in nanoseconds, ~0.2% resolution, no
/// allocation while recording (HdrHistogram's layout, simplified).
class Histogram {
public:
    static constexpr int sub_bits = 9;                      // 512 sub-buckets per power of two
    static constexpr std::uint64_t linear = 2u << sub_bits;  // values below are exact
    static constexpr std::size_t buckets = linear + (64 - sub_bits - 1) * (1u << sub_bits);

    Histogram() : counts_(buckets, 0) {}

    void record(std::uint64_t ns) {
        ++counts_[index(ns)];
        max_ = std::max(max_, ns);
        ++total_;
    }
    void merge(const Histogram& h) {
        for (std::size_t i = 0; i < buckets; ++i) counts_[i] += h.counts_[i];
        max_ = std::max(max_, h.max_);
        total_ += h.total_;
    }
    /// The value at quantile q (0..1), in nanoseconds (lower edge of its bucket).
    std::uint64_t quantile(double q) const {
        if (total_ == 0) return 0;
        const auto rank = std::uint64_t(q * double(total_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets; ++i)
            if ((seen += counts_[i]) >= rank) return std::min(value(i), max_);
        return max_;
    }
    std::uint64_t max() const { return max_; }
    std::uint64_t total() const { return total_; }

private:
    static std::size_t index(std::uint64_t v) {
        if (v < linear) return std::size_t(v);
        const int msb = 63 - std::countl_zero(v);  // >= sub_bits + 1
        const int shift = msb - sub_bits;
        return std::size_t(linear + std::uint64_t(msb - sub_bits - 1) * (1u << sub_bits) +
                           ((v >> shift) - (1u << sub_bits)));
    }
    static std::uint64_t value(std::size_t i) {
        if (i < linear) return i;
        const std::size_t k = i - linear;
        const int shift = int(k >> sub_bits) + 1;
        return ((1u << sub_bits) + (k & ((1u << sub_bits) - 1))) << shift;
    }

    std::vector<std::uint64_t> counts_;
    std::uint64_t max_ = 0;
    std::uint64_t total_ = 0;
};

// Bytes sent on every connection follow one pattern with a prime period, so
// a lost or repeated byte shows up as a mismatch at the next compare.
constexpr std::size_t period = 251;
constexpr std::size_t chunk = 64 * 1024;  // largest single read or write
std::vector<unsigned char> make_pattern() {
    std::vector<unsigned char> p(period + chunk);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<unsigned char>((i % period) * 7 + 1);
    return p;
}
const std::vector<unsigned char> pattern = make_pattern();

/// One TCP connection and its position in the byte stream it sends.
struct Conn {
    int fd = -1;
    std::uint64_t queued = 0;         // bytes committed to be sent (whole messages)
    std::uint64_t sent = 0;           // bytes written to the socket
    std::uint64_t received = 0;       // bytes echoed back
    std::uint64_t next_done = 0;      // index of the oldest message in flight
    std::uint64_t limit = UINT64_MAX; // counted mode: queue no bytes past this
    std::vector<Clock::time_point> stamps;  // send time of message n at [n % depth]
    bool dead = false;
};

struct Shared {
    const Options* opt = nullptr;
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    std::atomic<int> connected{0};
    std::atomic<bool> connect_failed{false};
    std::atomic<int> phase{0};  // 0 warm-up, 1 measuring, 2 draining, 3 stop
    // Counted mode: the main thread opens stage s (0 warm-up, 1 measured) by
    // setting `stage` to s + 1; each worker adds 1 to `idle` when all its
    // connections have echoed their share of the stage.
    std::atomic<int> stage{0};
    std::atomic<int> idle{0};
};

/// Per-thread results, merged at the end.
struct Stats {
    Histogram latency;
    std::uint64_t msgs = 0;
    std::uint64_t bytes = 0;
    std::uint64_t errors = 0;
    std::uint64_t undelivered = 0;  // bytes sent but never echoed by the end of the drain
};

void report(Stats& st, Conn& c, std::size_t id, const char* what) {
    if (st.errors++ < 5) std::fprintf(stderr, "loadgen: connection %zu: %s\n", id, what);
    c.dead = true;
}

class Worker {
public:
    Worker(Shared& sh, std::size_t first, std::size_t count) : sh_(sh), first_(first), conns_(count) {}

    void run() {
        if (!connect_all()) {
            finished_ = true;
            sh_.connect_failed = true;
            sh_.connected.fetch_add(int(conns_.size()));  // do not keep the others waiting
            return;
        }
        sh_.connected.fetch_add(int(conns_.size()));
        while (sh_.connected.load() < sh_.opt->connections) std::this_thread::yield();
        if (sh_.connect_failed) return void(finished_ = true);

        if (sh_.opt->messages) {
            run_counted();
        } else {
            for (auto& c : conns_)
                for (int i = 0; i < depth(); ++i) queue_message(c);
            for (std::size_t i = 0; i < conns_.size(); ++i) flush(i);
            while (sh_.phase.load(std::memory_order_relaxed) < 3) {
                if (!poll_once()) break;
                if (sh_.phase.load(std::memory_order_relaxed) == 2 && all_drained()) break;
            }
        }
        finished_ = true;
        for (auto& c : conns_) {
            if (!c.dead) stats_.undelivered += c.queued - c.received;
            if (c.fd >= 0) close(c.fd);
        }
        close(ep_);
    }

    Stats& stats() { return stats_; }
    /// True once this worker's messages have all come back after the run (or it gave up).
    bool finished() const { return finished_.load(); }

private:
    int depth() const { return sh_.opt->pipeline; }

    /// Waits for events and serves them; false if epoll itself failed.
    bool poll_once() {
        epoll_event events[256];
        const int n = epoll_wait(ep_, events, 256, 5);
        if (n < 0 && errno != EINTR) {
            std::perror("loadgen: epoll_wait");
            return false;
        }
        for (int i = 0; i < n; ++i) {
            const std::size_t id = events[i].data.u64;
            if (conns_[id].dead) continue;
            if (events[i].events & EPOLLIN) drain_input(id);
            if (!conns_[id].dead) flush(id);
            if (events[i].events & (EPOLLERR | EPOLLHUP) && !conns_[id].dead) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(conns_[id].fd, SOL_SOCKET, SO_ERROR, &err, &len);
                report(stats_, conns_[id], first_ + id, err ? std::strerror(err) : "hung up");
            }
        }
        return true;
    }

    /// Counted mode: each stage sends this worker's share of the stage's
    /// messages, waits until every one has come back, and reports idle.
    void run_counted() {
        const std::uint64_t totals[2] = {sh_.opt->warmup_messages, sh_.opt->messages};
        const auto all = std::uint64_t(sh_.opt->connections);
        for (int stage = 0; stage < 2; ++stage) {
            while (sh_.stage.load() <= stage) {
                if (sh_.phase.load() == 3) return;
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            for (std::size_t i = 0; i < conns_.size(); ++i) {
                Conn& c = conns_[i];
                const std::uint64_t global = first_ + i;
                const std::uint64_t share = totals[stage] / all + (global < totals[stage] % all ? 1 : 0);
                c.limit = c.queued + share * size();
                for (int k = 0; k < depth() && c.queued < c.limit; ++k) queue_message(c);
                flush(i);
            }
            // A server that stops answering must not hang the run: give up
            // after 60 s without a single byte echoed.
            std::uint64_t seen = received_total();
            auto last_progress = Clock::now();
            while (!all_drained()) {
                if (!poll_once()) break;
                if (const std::uint64_t now = received_total(); now != seen) {
                    seen = now;
                    last_progress = Clock::now();
                } else if (Clock::now() - last_progress > std::chrono::seconds(60)) {
                    for (std::size_t i = 0; i < conns_.size(); ++i)
                        if (!conns_[i].dead && conns_[i].received < conns_[i].queued)
                            report(stats_, conns_[i], first_ + i, "no echo for 60 s");
                }
            }
            sh_.idle.fetch_add(1);
        }
        while (sh_.phase.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }

    std::uint64_t received_total() const {
        std::uint64_t n = 0;
        for (const auto& c : conns_) n += c.received;
        return n;
    }
    std::size_t size() const { return sh_.opt->size; }

    bool connect_all() {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) return std::perror("loadgen: epoll_create1"), false;
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            Conn& c = conns_[i];
            c.stamps.resize(std::size_t(depth()));
            c.fd = socket(sh_.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (c.fd < 0) return std::perror("loadgen: socket"), false;
            // Bound the blocking connect (connect honours SO_SNDTIMEO).
            timeval tv{5, 0};
            setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            if (connect(c.fd, reinterpret_cast<const sockaddr*>(&sh_.addr), sh_.addr_len) < 0) {
                std::fprintf(stderr, "loadgen: connect (connection %zu): %s\n", first_ + i, std::strerror(errno));
                return false;
            }
            const int one = 1;
            setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // small messages go out at once
            if (set_nonblock(c.fd) < 0) return std::perror("loadgen: fcntl"), false;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
            ev.data.u64 = i;
            if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) < 0) return std::perror("loadgen: epoll_ctl"), false;
        }
        return true;
    }

    static int set_nonblock(int fd) {
        const int fl = fcntl(fd, F_GETFL);
        return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }

    void queue_message(Conn& c) {
        c.stamps[std::size_t((c.queued / size()) % std::uint64_t(depth()))] = Clock::now();
        c.queued += size();
    }

    void flush(std::size_t id) {
        Conn& c = conns_[id];
        while (c.sent < c.queued) {
            const std::size_t len = std::size_t(std::min<std::uint64_t>(c.queued - c.sent, chunk));
            const ssize_t n = send(c.fd, pattern.data() + c.sent % period, len, MSG_NOSIGNAL);
            if (n > 0) {
                c.sent += std::uint64_t(n);
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && errno == EAGAIN) {
                return;  // EPOLLOUT (edge) tells us when there is room
            } else {
                report(stats_, c, first_ + id, n < 0 ? std::strerror(errno) : "send returned 0");
                return;
            }
        }
    }

    void drain_input(std::size_t id) {
        Conn& c = conns_[id];
        for (;;) {
            const ssize_t n = recv(c.fd, buf_, sizeof buf_, 0);
            if (n > 0) {
                on_bytes(id, std::size_t(n));
                if (c.dead) return;
            } else if (n == 0) {
                if (c.received < c.queued || sh_.phase.load() < 2)
                    report(stats_, c, first_ + id, "server closed the connection");
                c.dead = true;
                return;
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN) {
                return;
            } else {
                report(stats_, c, first_ + id, std::strerror(errno));
                return;
            }
        }
    }

    void on_bytes(std::size_t id, std::size_t n) {
        Conn& c = conns_[id];
        if (c.received + n > c.sent) {
            report(stats_, c, first_ + id, "received more bytes than were sent");
            return;
        }
        if (std::memcmp(buf_, pattern.data() + c.received % period, n) != 0) {
            report(stats_, c, first_ + id, "echoed bytes differ from the bytes sent (lost, reordered or corrupted)");
            return;
        }
        c.received += n;
        const int phase = sh_.phase.load(std::memory_order_relaxed);
        while (c.received >= (c.next_done + 1) * size()) {
            const auto slot = std::size_t(c.next_done % std::uint64_t(depth()));
            const auto now = Clock::now();
            if (phase == 1) {
                stats_.latency.record(std::uint64_t(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.stamps[slot]).count()));
                ++stats_.msgs;
                stats_.bytes += size();
            }
            ++c.next_done;
            if (phase < 2 && c.queued < c.limit) queue_message(c);  // reuses the slot just freed
        }
    }

    bool all_drained() {
        for (const auto& c : conns_)
            if (!c.dead && c.received < c.queued) return false;
        return true;
    }

    Shared& sh_;
    std::size_t first_;
    std::vector<Conn> conns_;
    int ep_ = -1;
    Stats stats_;
    std::atomic<bool> finished_{false};
    alignas(64) unsigned char buf_[chunk];
};

}  // namespace

int main(int argc, char** argv) {
    const Options opt = parse(argc, argv);
    Shared sh;
    sh.opt = &opt;
    sh.addr = loopback_address(opt, sh.addr_len);

    std::vector<std::unique_ptr<Worker>> workers;
    const auto per = std::size_t(opt.connections / opt.threads);
    const auto extra = std::size_t(opt.connections % opt.threads);
    std::size_t first = 0;
    for (int t = 0; t < opt.threads; ++t) {
        const std::size_t n = per + (std::size_t(t) < extra ? 1 : 0);
        workers.push_back(std::make_unique<Worker>(sh, first, n));
        first += n;
    }
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

    // The clock starts once every connection is up.
    while (sh.connected.load() < opt.connections) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    int status = 0;
    double secs = 0;
    // Runs `--checkpoint CMD name` (waits for it); a failure fails the run.
    auto checkpoint = [&](const char* name) {
        if (opt.checkpoint.empty()) return;
        const std::string cmd = opt.checkpoint + " " + name;
        if (const int rc = std::system(cmd.c_str()); rc != 0) {
            std::fprintf(stderr, "loadgen: checkpoint command failed (status %d): %s\n", rc, cmd.c_str());
            status = 1;
        }
    };
    if (sh.connect_failed) {
        sh.phase = 3;
        status = 1;
    } else if (opt.messages) {
        using fsec = std::chrono::duration<double>;
        const int nthreads = int(workers.size());
        Clock::time_point start;
        auto run_stage = [&](int stage, const char* name) {
            sh.phase = stage;  // 0: warm-up (not recorded), 1: measured
            sh.stage = stage + 1;
            while (sh.idle.load() < nthreads * (stage + 1)) std::this_thread::sleep_for(std::chrono::microseconds(200));
            if (stage == 1) secs = fsec(Clock::now() - start).count();
            checkpoint(name);
        };
        run_stage(0, "warmup");
        start = Clock::now();
        if (status == 0) run_stage(1, "measured");
        sh.phase = 3;
    } else {
        using fsec = std::chrono::duration<double>;
        std::this_thread::sleep_for(fsec(opt.warmup));
        checkpoint("start");
        const auto start = Clock::now();
        sh.phase = 1;
        std::this_thread::sleep_for(fsec(opt.duration));
        sh.phase = 2;
        secs = fsec(Clock::now() - start).count();
        checkpoint("end");
        // Messages in flight get 2 s to come back; past that they count as lost.
        const auto give_up = Clock::now() + std::chrono::seconds(2);
        auto all_finished = [&] {
            return std::all_of(workers.begin(), workers.end(), [](auto& w) { return w->finished(); });
        };
        while (!all_finished() && Clock::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        sh.phase = 3;
    }
    for (auto& t : threads) t.join();
    if (status) return status;
    // (Counted mode: every message came back before its checkpoint, so
    // nothing is in flight now.)

    Stats total;
    for (auto& w : workers) {
        total.latency.merge(w->stats().latency);
        total.msgs += w->stats().msgs;
        total.bytes += w->stats().bytes;
        total.errors += w->stats().errors;
        total.undelivered += w->stats().undelivered;
    }
    if (total.undelivered) {
        std::fprintf(stderr, "loadgen: %llu bytes sent were not echoed back within 2 s after the run\n",
                     static_cast<unsigned long long>(total.undelivered));
        ++total.errors;
    }

    const double us = 1e-3;
    const double p50 = double(total.latency.quantile(0.50)) * us;
    const double p99 = double(total.latency.quantile(0.99)) * us;
    const double p999 = double(total.latency.quantile(0.999)) * us;
    const double mx = double(total.latency.max()) * us;
    const double rate = double(total.msgs) / secs;
    const double mbps = double(total.bytes) / secs / 1e6;
    std::fprintf(opt.csv ? stderr : stdout,
                 "conns=%d size=%zu pipeline=%d secs=%.2f msgs=%llu msgs/s=%.0f MB/s=%.2f "
                 "p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%llu\n",
                 opt.connections, opt.size, opt.pipeline, secs, static_cast<unsigned long long>(total.msgs), rate,
                 mbps, p50, p99, p999, mx, static_cast<unsigned long long>(total.errors));
    if (opt.csv)
        std::printf("%d,%zu,%d,%.3f,%llu,%.0f,%.3f,%.1f,%.1f,%.1f,%.1f,%llu\n", opt.connections, opt.size,
                    opt.pipeline, secs, static_cast<unsigned long long>(total.msgs), rate, mbps, p50, p99, p999, mx,
                    static_cast<unsigned long long>(total.errors));
    return total.errors ? 2 : 0;
}
