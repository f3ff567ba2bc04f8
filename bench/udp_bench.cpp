// udp_bench: datagrams per second through a pants UDP echo server, on
// io_uring and then on epoll, in one run; prints both and their ratio.
//
//   build-release/bench/udp_bench [seconds per backend] [sockets] [window] [size] [batch]
//
// The server is a pants::Datagram echo (as examples/udp_echo) on its own
// Engine and thread, whose CPU time (its thread CPU clock, user + system)
// is read over the measured window: CPU per echoed datagram; so is the
// number of times it went to sleep waiting for I/O (its voluntary context
// switches), per echoed datagram: each one costs a wake-up. The load
// comes from plain non-blocking sockets on another thread, without pants,
// so it measures the server: each client
// socket keeps `window` datagrams in flight and sends one more per echo, so
// nothing overflows a socket buffer on loopback. The client moves up to
// `batch` datagrams per system call (recvmmsg, sendmmsg; 1: one recv and
// one send per datagram), so that it costs less per datagram than the
// server and keeps it busy: a server that waits for its load sleeps and
// wakes often, and pays for that in CPU per datagram. bench/udp.sh runs it.
//
// Every datagram carries its socket's index, a sequence number and a
// checksum of the whole payload, so an echo is counted only if it is one
// that socket sent, still in flight, and intact. Everything else is
// counted: corrupt echoes (wrong size, checksum or socket), unexpected
// ones (a sequence not in flight: duplicated or already given up),
// losses (no intact echo within `loss_timeout`, or still missing after the
// final drain; so a corrupt echo is a loss too), and send and receive
// errors on both sides. Lost or failed datagrams are
// replaced so the window stays full. Output: one line per backend with the
// counts, then the ratio; if any backend saw a problem, a line
// "udp_bench: FAIL ..." per problem on stderr and exit status 2 (as
// bench/loadgen); 1 for bad usage or a server that cannot start.
#include <pants/pants.hpp>

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Loopback does not drop datagrams that fit the socket buffers: one not
// back after this long is lost (and replaced).
constexpr auto loss_timeout = std::chrono::milliseconds(500);
// After the measured time, how long to wait for the datagrams in flight.
constexpr auto drain_timeout = std::chrono::seconds(1);

// The server's own errors, counted on its thread.
std::atomic<std::uint64_t> server_errors{0};

class Echo : public pants::Datagram {
public:
    using pants::Datagram::Datagram;
    // write(data) answers the sender of the datagram being read.
    void on_read(std::string_view data, const pants::Address&) override { write(data); }
    void on_read_error(std::error_code e) override { count(e); }
    void on_write_error(std::error_code e) override { count(e); }

private:
    static void count(std::error_code e) {
        if (server_errors++ == 0) std::fprintf(stderr, "udp_bench: server: %s\n", e.message().c_str());
    }
};

// Payload layout: [0,4) socket index, [4,12) sequence, [12,16) checksum
// of the payload with these four bytes zero, [16,size) filler from the
// sequence. Little-endian; both ends are this program.
constexpr std::size_t header_size = 16;

std::uint32_t checksum(const char* data, std::size_t size) {
    // FNV-1a over the payload, the checksum field read as zeros.
    std::uint32_t h = 2166136261u;
    for (std::size_t i = 0; i < size; ++i) {
        const unsigned char c = (i >= 12 && i < 16) ? 0 : static_cast<unsigned char>(data[i]);
        h = (h ^ c) * 16777619u;
    }
    return h;
}

void fill(std::string& payload, std::uint32_t socket, std::uint64_t seq) {
    for (std::size_t i = header_size; i < payload.size(); ++i) payload[i] = static_cast<char>(seq * 31 + i);
    std::memcpy(payload.data(), &socket, 4);
    std::memcpy(payload.data() + 4, &seq, 8);
    const std::uint32_t sum = checksum(payload.data(), payload.size());
    std::memcpy(payload.data() + 12, &sum, 4);
}

struct Result {
    double per_second = 0;
    double server_cpu_us = 0;  // server thread CPU time per echoed datagram
    double server_sleeps = 0;  // server thread voluntary context switches per echoed datagram
    std::uint64_t echoed = 0;  // in the measured window
    std::uint64_t sent = 0, verified = 0, lost = 0, corrupt = 0, unexpected = 0, send_errors = 0, recv_errors = 0;
    std::uint64_t server_errors = 0;
    std::string first_error;

};

struct Client {
    int fd = -1;
    std::uint64_t next_seq = 0;
    std::unordered_map<std::uint64_t, Clock::time_point> in_flight;
};

void note_error(Result& r, const char* what, int err) {
    if (r.first_error.empty()) r.first_error = std::string(what) + ": " + std::strerror(err);
}

// The client's buffers for `batch` datagrams per system call, each way.
struct Io {
    std::size_t batch;
    std::vector<std::string> out, in;
    std::vector<iovec> out_iov, in_iov;
    std::vector<mmsghdr> out_msg, in_msg;
    Io(std::size_t batch_size, std::size_t size)
        : batch(batch_size), out(batch, std::string(size, 'u')), in(batch, std::string(size + 1, '\0')),
          out_iov(batch), in_iov(batch), out_msg(batch), in_msg(batch) {
        for (std::size_t k = 0; k < batch; ++k) {
            out_iov[k] = iovec{out[k].data(), out[k].size()};
            in_iov[k] = iovec{in[k].data(), in[k].size()};  // one byte more: a longer echo shows
            out_msg[k].msg_hdr.msg_iov = &out_iov[k];
            out_msg[k].msg_hdr.msg_iovlen = 1;
            in_msg[k].msg_hdr.msg_iov = &in_iov[k];
            in_msg[k].msg_hdr.msg_iovlen = 1;
        }
    }
};

// Sends `count` new datagrams on client `index`, but those whose send fails.
void send_many(Client& c, std::uint32_t index, std::size_t count, Io& io, Result& r) {
    while (count > 0) {
        const std::size_t n = std::min(count, io.batch);
        const std::uint64_t first = c.next_seq;
        for (std::size_t k = 0; k < n; ++k) fill(io.out[k], index, c.next_seq++);
        const int sent = ::sendmmsg(c.fd, io.out_msg.data(), unsigned(n), 0);
        const int err = errno;
        const auto now = Clock::now();
        for (int k = 0; k < sent; ++k) {
            ++r.sent;
            c.in_flight.emplace(first + std::uint64_t(k), now);
        }
        if (sent < int(n)) {  // the first one not sent failed (or, short of it, would block)
            r.send_errors += n - std::size_t(std::max(sent, 0));
            note_error(r, "sendmmsg", sent < 0 ? err : EAGAIN);
            return;
        }
        count -= n;
    }
}

// Checks one echo received on client `index`: true if it was ours and intact.
bool verify(Client& c, std::uint32_t index, const char* data, ssize_t n, std::size_t size, Result& r) {
    std::uint32_t socket = 0, sum = 0;
    std::uint64_t seq = 0;
    if (static_cast<std::size_t>(n) != size) return ++r.corrupt, false;
    std::memcpy(&socket, data, 4);
    std::memcpy(&seq, data + 4, 8);
    std::memcpy(&sum, data + 12, 4);
    if (socket != index || sum != checksum(data, size)) return ++r.corrupt, false;
    if (c.in_flight.erase(seq) == 0) return ++r.unexpected, false;
    ++r.verified;
    return true;
}

// CPU time consumed so far by the thread whose CPU clock is `clock`.
double cpu_seconds(clockid_t clock) {
    timespec t{};
    ::clock_gettime(clock, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

// The server thread, as seen from the load generator's thread.
struct ServerThread {
    clockid_t clock{};  // its CPU clock
    pid_t tid = 0;
};

// How many times the thread `tid` of this process went to sleep of its own
// accord (waiting for I/O): voluntary_ctxt_switches in its status file.
std::uint64_t sleeps(pid_t tid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/status", int(tid));
    std::FILE* f = std::fopen(path, "r");
    if (!f) return 0;
    char line[256];
    unsigned long long n = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1) break;
    std::fclose(f);
    return n;
}

// Sends and counts echoes for `seconds` after a short warm-up, then drains.
// The server thread's CPU time and sleeps are read over the measured window.
Result load(const pants::Address& server, const ServerThread& server_thread, double seconds, int sockets,
            int window, std::size_t size, std::size_t batch) {
    Result r;
    int ep = ::epoll_create1(0);
    std::vector<Client> clients(static_cast<std::size_t>(sockets));
    Io io(batch, size);
    for (std::uint32_t i = 0; i < clients.size(); ++i) {
        Client& c = clients[i];
        c.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (c.fd < 0 || ::connect(c.fd, server.data(), server.size()) != 0) {
            ++r.send_errors;
            note_error(r, "socket/connect", errno);
            continue;
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
        send_many(c, i, std::size_t(window), io, r);
    }
    std::uint64_t count = 0, at_start = 0;
    const auto warm = Clock::now() + std::chrono::milliseconds(300);
    const auto end = warm + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    bool measuring = false;
    bool sending = true;
    Clock::time_point t0, t1;
    double cpu0 = 0;
    std::uint64_t sleeps0 = 0;
    auto next_sweep = Clock::now() + loss_timeout;
    epoll_event events[64];
    for (;;) {
        auto now = Clock::now();
        if (!measuring && now >= warm) {
            measuring = true;
            at_start = count;
            t0 = now;
            cpu0 = cpu_seconds(server_thread.clock);
            sleeps0 = sleeps(server_thread.tid);
        }
        if (sending && now >= end) {
            sending = false;  // measured time is over: drain what is in flight
            t1 = now;
            r.echoed = count - at_start;
            if (r.echoed > 0) {
                r.server_cpu_us = (cpu_seconds(server_thread.clock) - cpu0) * 1e6 / double(r.echoed);
                r.server_sleeps = double(sleeps(server_thread.tid) - sleeps0) / double(r.echoed);
            }
        }
        if (!sending) {
            bool empty = true;
            for (const auto& c : clients) empty &= c.in_flight.empty();
            if (empty || now >= t1 + drain_timeout) break;
        }
        if (sending && now >= next_sweep) {
            // Datagrams not back in time are lost; replace them, and those
            // whose send failed, so every socket has `window` in flight.
            next_sweep = now + loss_timeout / 4;
            for (std::uint32_t i = 0; i < clients.size(); ++i) {
                Client& c = clients[i];
                if (c.fd < 0) continue;
                std::erase_if(c.in_flight, [&](const auto& entry) {
                    if (now - entry.second < loss_timeout) return false;
                    ++r.lost;
                    return true;
                });
                if (c.in_flight.size() < static_cast<std::size_t>(window))
                    send_many(c, i, static_cast<std::size_t>(window) - c.in_flight.size(), io, r);
            }
        }
        int n = ::epoll_wait(ep, events, 64, 50);
        for (int i = 0; i < n; ++i) {
            const std::uint32_t index = events[i].data.u32;
            Client& c = clients[index];
            for (;;) {
                const int got = ::recvmmsg(c.fd, io.in_msg.data(), unsigned(io.batch), MSG_DONTWAIT, nullptr);
                if (got < 0) {
                    if (errno != EAGAIN && errno != EWOULDBLOCK) {
                        ++r.recv_errors;
                        note_error(r, "recvmmsg", errno);
                    }
                    break;
                }
                for (int k = 0; k < got; ++k)
                    if (verify(c, index, io.in[std::size_t(k)].data(), io.in_msg[std::size_t(k)].msg_len, size, r))
                        ++count;
                if (sending) send_many(c, index, std::size_t(got), io, r);  // one more per echo
                if (std::size_t(got) < io.batch) break;  // drained
            }
        }
    }
    for (auto& c : clients) {
        r.lost += c.in_flight.size();  // never came back, even after the drain
        if (c.fd >= 0) ::close(c.fd);
    }
    ::close(ep);
    const double elapsed = std::chrono::duration<double>(t1 - t0).count();
    r.per_second = elapsed > 0 ? double(r.echoed) / elapsed : 0;
    return r;
}

Result run(pants::BackendKind kind, double seconds, int sockets, int window, std::size_t size, std::size_t batch) {
    std::atomic<pants::Engine*> engine{nullptr};
    std::atomic<int> port{0};
    std::atomic<pid_t> tid{0};
    server_errors = 0;
    std::thread server([&] {
        pants::Engine::Options options;
        options.backend = kind;
        pants::Engine e(options);
        Echo echo(e);
        if (!echo.listen(pants::Address::loopback_v4(0))) {
            std::fprintf(stderr, "udp_bench: the echo server cannot listen\n");
            std::exit(1);
        }
        port = echo.local_address()->port();
        tid = ::gettid();
        engine = &e;
        e.start();
    });
    while (!engine) std::this_thread::yield();
    ServerThread server_thread;
    server_thread.tid = tid;
    if (::pthread_getcpuclockid(server.native_handle(), &server_thread.clock) != 0) {
        std::fprintf(stderr, "udp_bench: no CPU clock for the server thread\n");
        std::exit(1);
    }
    Result r = load(pants::Address::loopback_v4(std::uint16_t(port.load())), server_thread, seconds, sockets,
                    window, size, batch);
    engine.load()->stop();
    server.join();
    r.server_errors = server_errors;
    return r;
}

void print(const char* name, const Result& r) {
    std::printf("%-9s %12.0f datagrams/s %6.2f us server CPU/datagram %5.3f sleeps/datagram  sent=%llu verified=%llu lost=%llu corrupt=%llu unexpected=%llu "
                "send_errors=%llu recv_errors=%llu server_errors=%llu\n",
                name, r.per_second, r.server_cpu_us, r.server_sleeps, static_cast<unsigned long long>(r.sent),
                static_cast<unsigned long long>(r.verified), static_cast<unsigned long long>(r.lost),
                static_cast<unsigned long long>(r.corrupt), static_cast<unsigned long long>(r.unexpected),
                static_cast<unsigned long long>(r.send_errors), static_cast<unsigned long long>(r.recv_errors),
                static_cast<unsigned long long>(r.server_errors));
}

// Prints a FAIL line per problem of `r`; true if there was none.
bool judge(const char* name, const Result& r) {
    bool ok = true;
    auto problem = [&](std::uint64_t n, const char* what) {
        if (n == 0) return;
        ok = false;
        std::fprintf(stderr, "udp_bench: FAIL %s: %llu %s\n", name, static_cast<unsigned long long>(n), what);
    };
    if (r.verified == 0) {
        ok = false;
        std::fprintf(stderr, "udp_bench: FAIL %s: no datagram came back intact\n", name);
    }
    problem(r.lost, "datagrams lost");
    problem(r.corrupt, "corrupt echoes (size, checksum or socket wrong)");
    problem(r.unexpected, "unexpected echoes (duplicated, or not in flight)");
    problem(r.send_errors, "send errors");
    problem(r.recv_errors, "receive errors");
    problem(r.server_errors, "server read/write errors");
    if (!r.first_error.empty()) std::fprintf(stderr, "udp_bench: %s: first error: %s\n", name, r.first_error.c_str());
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 3;
    int sockets = argc > 2 ? std::atoi(argv[2]) : 8;
    int window = argc > 3 ? std::atoi(argv[3]) : 16;
    std::size_t size = argc > 4 ? std::size_t(std::atoi(argv[4])) : 64;
    int batch = argc > 5 ? std::atoi(argv[5]) : 16;
    if (!(seconds > 0) || sockets < 1 || window < 1 || size < header_size || size > 65507 || batch < 1 ||
        batch > 1024) {
        std::fprintf(stderr,
                     "usage: udp_bench [seconds > 0] [sockets >= 1] [window >= 1] [size %zu..65507] [batch 1..1024]\n",
                     header_size);
        return 1;
    }
    std::printf("UDP echo, %d sockets x %d in flight, %zu-byte datagrams, %.1f s per backend, client batch %d\n",
                sockets, window, size, seconds, batch);
    Result u = run(pants::BackendKind::io_uring, seconds, sockets, window, size, std::size_t(batch));
    print("io_uring", u);
    Result e = run(pants::BackendKind::epoll, seconds, sockets, window, size, std::size_t(batch));
    print("epoll", e);
    std::printf("ratio     %12.2f (io_uring / epoll datagrams/s); server CPU per datagram %.2f (epoll / io_uring)\n",
                e.per_second > 0 ? u.per_second / e.per_second : 0.0,
                u.server_cpu_us > 0 ? e.server_cpu_us / u.server_cpu_us : 0.0);
    const bool ok = judge("io_uring", u) & judge("epoll", e);
    std::printf("%s\n", ok ? "udp_bench: ok, every echo verified" : "udp_bench: FAILED (see stderr)");
    return ok ? 0 : 2;
}
