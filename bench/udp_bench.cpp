// udp_bench: datagrams per second through a pants UDP echo server, on
// io_uring and on epoll in alternating rounds of one run; prints both and
// their ratio.
//
//   build-release/bench/udp_bench [seconds per backend] [sockets] [window] [size] [batch] [backend] [rounds]
//
// `backend` (io_uring or epoll) runs only that one, with no ratio: for
// profiling one server (perf record -t, callgrind); `both` (the default)
// runs both. The measured seconds of each backend are split into `rounds`
// (default 5) that alternate the backends (io_uring first in odd rounds,
// epoll in even ones), each with a new server: a change in the machine's
// load falls on both, and the figures printed are medians over the rounds
// (the ratio is the median of the rounds' ratios, with their range).
//
// The server is a pants::Datagram echo (as examples/udp_echo) on its own
// Engine and thread (on CPU 0; the load on CPU 1), whose CPU time (its thread CPU clock, user + system)
// is read over the measured window: CPU per echoed datagram; so is the
// number of times it went to sleep waiting for I/O (its voluntary context
// switches), per echoed datagram: each one costs a wake-up. The load
// comes from plain non-blocking sockets on another thread, without pants,
// so it measures the server: each client
// socket keeps `window` datagrams in flight and sends one more per echo, so
// nothing overflows a socket buffer on loopback. The client moves up to
// `batch` datagrams per system call (a GSO sendmsg, recvmmsg on a UDP_GRO
// socket: see Io; 1: one recv and one send per datagram), so that it
// costs less per datagram than the server and keeps it busy: a server
// that waits for its load sleeps and wakes often, and pays for that in CPU
// per datagram. Its own CPU per datagram is printed too, to check that.
// bench/udp.sh runs it.
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
#include "median.hpp"

#include <pants/pants.hpp>

#include <pthread.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
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
    // Eight bytes at a time (a multiply-xorshift mix), then the tail; the
    // checksum field is read as zeros. Cheap, so the client costs less per
    // datagram than the server it measures.
    std::uint64_t h = 0x9e3779b97f4a7c15ull ^ size;
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, data + i, 8);
        if (i == 8) w &= 0x00000000ffffffffull;  // bytes [12,16): the checksum
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    for (; i < size; ++i) h = (h ^ static_cast<unsigned char>(data[i])) * 0x100000001b3ull;
    return static_cast<std::uint32_t>(h ^ (h >> 32));
}

void fill(std::string& payload, std::uint32_t socket, std::uint64_t seq) {
    const std::uint64_t pattern = seq * 0x0101010101010101ull + 0x0706050403020100ull;
    for (std::size_t i = header_size; i < payload.size(); i += 8)
        std::memcpy(payload.data() + i, &pattern, std::min<std::size_t>(8, payload.size() - i));
    std::memcpy(payload.data(), &socket, 4);
    std::memcpy(payload.data() + 4, &seq, 8);
    const std::uint32_t sum = checksum(payload.data(), payload.size());
    std::memcpy(payload.data() + 12, &sum, 4);
}

struct Result {
    double per_second = 0;
    double server_cpu_us = 0;  // server thread CPU time per echoed datagram
    double client_cpu_us = 0;  // the load generator's, likewise: below the server's, or it is the limit
    double server_sleeps = 0;  // server thread voluntary context switches per echoed datagram
    std::uint64_t echoed = 0;  // in the measured window
    std::uint64_t sent = 0, verified = 0, lost = 0, corrupt = 0, unexpected = 0, send_errors = 0, recv_errors = 0;
    std::uint64_t server_errors = 0;
    std::string first_error;

};

// The datagrams a client socket has in flight: a ring of slots indexed by
// sequence number (no allocation per datagram, unlike a hash map). A slot
// still taken when its sequence number comes round again (kSlots sends
// later) holds a datagram that never came back: it is lost.
class InFlight {
public:
    static constexpr std::size_t kSlots = 1 << 14;

    InFlight() : slots_(kSlots) {}
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// Records `seq` as sent at `when`; true if its slot held a lost one.
    bool add(std::uint64_t seq, Clock::time_point when) {
        Slot& s = slots_[seq & (kSlots - 1)];
        const bool evicted = s.taken;
        size_ += !evicted;
        s = Slot{seq, when, true};
        return evicted;
    }
    /// False if `seq` is not in flight (a duplicate, or given up).
    bool remove(std::uint64_t seq) {
        Slot& s = slots_[seq & (kSlots - 1)];
        if (!s.taken || s.seq != seq) return false;
        s.taken = false;
        --size_;
        return true;
    }
    /// Gives up those sent before `deadline`; returns how many.
    std::size_t expire(Clock::time_point deadline) {
        std::size_t n = 0;
        for (Slot& s : slots_) {
            if (!s.taken || s.sent >= deadline) continue;
            s.taken = false;
            ++n;
        }
        size_ -= n;
        return n;
    }

private:
    struct Slot {
        std::uint64_t seq = 0;
        Clock::time_point sent{};
        bool taken = false;
    };
    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

struct Client {
    int fd = -1;
    std::uint64_t next_seq = 0;
    InFlight in_flight;
};

void note_error(Result& r, const char* what, int err) {
    if (r.first_error.empty()) r.first_error = std::string(what) + ": " + std::strerror(err);
}

// The client's buffers for `batch` datagrams per system call, each way.
// With batch > 1 a client sends its datagrams as one sendmsg with
// UDP_SEGMENT (GSO, as the server does: the kernel cuts them apart) and its
// socket has UDP_GRO, so that a GSO batch the server sends comes back whole
// in one message, cut by the segment size in its UDP_GRO control message.
// Both keep the client's kernel work per datagram below the server's, so
// that the server, not the load generator, is what is measured.
struct Io {
    // One received message: a datagram, or a GSO batch of up to 64 of them.
    static constexpr std::size_t kMessageBytes = 65536;
    std::size_t batch;
    bool gso;  // off when the kernel refuses UDP_SEGMENT: sendmmsg then
    std::vector<std::string> out;
    std::vector<iovec> out_iov, in_iov;
    std::vector<mmsghdr> out_msg, in_msg;
    std::vector<char> in;
    struct Control {
        alignas(cmsghdr) unsigned char bytes[CMSG_SPACE(sizeof(int))];
    };
    std::vector<Control> in_control;
    Control out_control{};
    Io(std::size_t batch_size, std::size_t size)
        : batch(batch_size), gso(batch_size > 1), out(batch, std::string(size, 'u')), out_iov(batch),
          in_iov(batch), out_msg(batch), in_msg(batch), in(batch * kMessageBytes), in_control(batch) {
        for (std::size_t k = 0; k < batch; ++k) {
            out_iov[k] = iovec{out[k].data(), out[k].size()};
            in_iov[k] = iovec{in.data() + k * kMessageBytes, kMessageBytes};
            out_msg[k].msg_hdr.msg_iov = &out_iov[k];
            out_msg[k].msg_hdr.msg_iovlen = 1;
            in_msg[k].msg_hdr.msg_iov = &in_iov[k];
            in_msg[k].msg_hdr.msg_iovlen = 1;
        }
    }
    /// Before each recvmmsg: the kernel shortens each control length.
    void reset_controls() {
        for (std::size_t k = 0; k < batch; ++k) {
            in_msg[k].msg_hdr.msg_control = in_control[k].bytes;
            in_msg[k].msg_hdr.msg_controllen = sizeof in_control[k].bytes;
        }
    }
    /// The segment size of received message k (its length if not a GSO batch).
    std::size_t segment(std::size_t k) const {
        const msghdr& h = in_msg[k].msg_hdr;
        for (cmsghdr* cm = CMSG_FIRSTHDR(&h); cm; cm = CMSG_NXTHDR(const_cast<msghdr*>(&h), cm)) {
            if (cm->cmsg_level != SOL_UDP || cm->cmsg_type != UDP_GRO) continue;
            int size = 0;
            std::memcpy(&size, CMSG_DATA(cm), sizeof size);
            if (size > 0) return std::size_t(size);
        }
        return in_msg[k].msg_len;
    }
};

// Sends datagrams out[0, n) as one GSO sendmsg: how many went (all or
// none), or -1 with errno.
int send_gso(int fd, Io& io, std::size_t n) {
    msghdr msg{};
    msg.msg_iov = io.out_iov.data();
    msg.msg_iovlen = n;
    msg.msg_control = io.out_control.bytes;
    msg.msg_controllen = sizeof io.out_control.bytes;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto segment = static_cast<std::uint16_t>(io.out[0].size());
    std::memcpy(CMSG_DATA(cm), &segment, sizeof segment);
    msg.msg_controllen = CMSG_SPACE(sizeof(std::uint16_t));
    return ::sendmsg(fd, &msg, 0) < 0 ? -1 : int(n);
}

// Sends `count` new datagrams on client `index`, but those whose send fails.
void send_many(Client& c, std::uint32_t index, std::size_t count, Io& io, Result& r) {
    while (count > 0) {
        const std::size_t n = std::min(count, io.batch);
        const std::uint64_t first = c.next_seq;
        for (std::size_t k = 0; k < n; ++k) fill(io.out[k], index, first + k);
        int sent = io.gso && n > 1 ? send_gso(c.fd, io, n) : ::sendmmsg(c.fd, io.out_msg.data(), unsigned(n), 0);
        if (sent < 0 && io.gso && n > 1 && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT)) {
            io.gso = false;  // no GSO here: one datagram per message
            sent = ::sendmmsg(c.fd, io.out_msg.data(), unsigned(n), 0);
        }
        const int err = errno;
        const auto now = Clock::now();
        for (int k = 0; k < sent; ++k) {
            ++r.sent;
            r.lost += c.in_flight.add(first + std::uint64_t(k), now);
        }
        c.next_seq += std::uint64_t(std::max(sent, 0));
        if (sent < int(n)) {  // the first one not sent failed (or, short of it, would block)
            r.send_errors += n - std::size_t(std::max(sent, 0));
            note_error(r, io.gso ? "sendmsg (GSO)" : "sendmmsg", sent < 0 ? err : EAGAIN);
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
    if (!c.in_flight.remove(seq)) return ++r.unexpected, false;
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
        const int on = 1;  // GSO batches come back whole (see Io); without it, one by one
        if (batch > 1) ::setsockopt(c.fd, SOL_UDP, UDP_GRO, &on, sizeof on);
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
    double cpu0 = 0, client_cpu0 = 0;
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
            client_cpu0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
            sleeps0 = sleeps(server_thread.tid);
        }
        if (sending && now >= end) {
            sending = false;  // measured time is over: drain what is in flight
            t1 = now;
            r.echoed = count - at_start;
            if (r.echoed > 0) {
                r.server_cpu_us = (cpu_seconds(server_thread.clock) - cpu0) * 1e6 / double(r.echoed);
                r.client_cpu_us = (cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - client_cpu0) * 1e6 / double(r.echoed);
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
                r.lost += c.in_flight.expire(now - loss_timeout);
                if (c.in_flight.size() < static_cast<std::size_t>(window))
                    send_many(c, i, static_cast<std::size_t>(window) - c.in_flight.size(), io, r);
            }
        }
        int n = ::epoll_wait(ep, events, 64, 50);
        for (int i = 0; i < n; ++i) {
            const std::uint32_t index = events[i].data.u32;
            Client& c = clients[index];
            for (;;) {
                io.reset_controls();
                const int got = ::recvmmsg(c.fd, io.in_msg.data(), unsigned(io.batch), MSG_DONTWAIT, nullptr);
                if (got < 0) {
                    if (errno != EAGAIN && errno != EWOULDBLOCK) {
                        ++r.recv_errors;
                        note_error(r, "recvmmsg", errno);
                    }
                    break;
                }
                std::size_t echoes = 0;
                for (std::size_t k = 0; k < std::size_t(got); ++k) {
                    const char* data = static_cast<const char*>(io.in_iov[k].iov_base);
                    const std::size_t length = io.in_msg[k].msg_len, segment = io.segment(k);
                    std::size_t at = 0;
                    do {  // each segment of a GSO batch (an empty echo is one, and corrupt)
                        count += verify(c, index, data + at, ssize_t(std::min(segment, length - at)), size, r);
                        ++echoes;
                        at += segment;
                    } while (at < length);
                }
                if (sending) send_many(c, index, echoes, io, r);  // one more per echo
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

// The server on CPU 0 and the client on CPU 1, as bench/echo.sh pins them:
// neither waits for the other's time slice. Nothing on a single CPU.
void pin_to_cpu(int cpu) {
    if (std::thread::hardware_concurrency() < 2) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

Result run(pants::BackendKind kind, double seconds, int sockets, int window, std::size_t size, std::size_t batch) {
    std::atomic<pants::Engine*> engine{nullptr};
    std::atomic<int> port{0};
    std::atomic<pid_t> tid{0};
    server_errors = 0;
    std::thread server([&] {
        pin_to_cpu(0);
        pants::Engine::Options options;
        options.backend = kind;
        pants::Engine e(options);
        Echo echo(e);
        if (!echo.listen(pants::Address::loopback_v4(0))) {
            std::fprintf(stderr, "udp_bench: the echo server cannot listen\n");
            std::exit(1);
        }
        // As a UDP server under load would: the largest receive buffer
        // the kernel allows without privilege (net.core.rmem_max, doubled).
        // A GSO batch from a client is cut into datagrams at this socket,
        // each with its own sk_buff, and at 512 bytes 8 x 16 of them
        // overflow the default buffer while the server is busy.
        const int rcvbuf = 4 << 20;
        ::setsockopt(echo.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        port = echo.local_address()->port();
        tid = ::gettid();
        engine = &e;
        e.start();
    });
    pin_to_cpu(1);
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

using bench::median;

// One backend's rounds as one Result: the rates and costs are medians over
// the rounds, the counts are totals.
Result combine(const std::vector<Result>& rounds) {
    Result t;
    auto over = [&](double Result::*f) {
        std::vector<double> v;
        for (const Result& r : rounds) v.push_back(r.*f);
        return median(std::move(v));
    };
    t.per_second = over(&Result::per_second);
    t.server_cpu_us = over(&Result::server_cpu_us);
    t.client_cpu_us = over(&Result::client_cpu_us);
    t.server_sleeps = over(&Result::server_sleeps);
    for (const Result& r : rounds) {
        t.echoed += r.echoed;
        t.sent += r.sent;
        t.verified += r.verified;
        t.lost += r.lost;
        t.corrupt += r.corrupt;
        t.unexpected += r.unexpected;
        t.send_errors += r.send_errors;
        t.recv_errors += r.recv_errors;
        t.server_errors += r.server_errors;
        if (t.first_error.empty()) t.first_error = r.first_error;
    }
    return t;
}

void print(const char* name, const Result& r) {
    std::printf("%-9s %12.0f datagrams/s %6.2f us server CPU/datagram %5.3f sleeps/datagram %6.2f us client CPU/datagram  sent=%llu verified=%llu lost=%llu corrupt=%llu unexpected=%llu "
                "send_errors=%llu recv_errors=%llu server_errors=%llu\n",
                name, r.per_second, r.server_cpu_us, r.server_sleeps, r.client_cpu_us, static_cast<unsigned long long>(r.sent),
                static_cast<unsigned long long>(r.verified), static_cast<unsigned long long>(r.lost),
                static_cast<unsigned long long>(r.corrupt), static_cast<unsigned long long>(r.unexpected),
                static_cast<unsigned long long>(r.send_errors), static_cast<unsigned long long>(r.recv_errors),
                static_cast<unsigned long long>(r.server_errors));
}

// The median of a / b over the rounds, and its range, as "1.02 (0.95-1.10)".
std::string ratio_of(const std::vector<Result>& a, const std::vector<Result>& b, double Result::*f) {
    std::vector<double> v;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) v.push_back(b[i].*f > 0 ? a[i].*f / (b[i].*f) : 0.0);
    if (v.empty()) return "-";
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    char text[64];
    std::snprintf(text, sizeof text, "%.2f (%.2f-%.2f)", median(v), *lo, *hi);
    return text;
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
    std::string only = argc > 6 ? argv[6] : "";
    if (only == "both") only.clear();
    const int rounds = argc > 7 ? std::atoi(argv[7]) : 5;
    if (!(seconds > 0) || sockets < 1 || window < 1 || size < header_size || size > 65507 || batch < 1 ||
        batch > 1024 || !(only.empty() || only == "io_uring" || only == "epoll") || rounds < 1) {
        std::fprintf(stderr,
                     "usage: udp_bench [seconds > 0] [sockets >= 1] [window >= 1] [size %zu..65507] [batch 1..1024] "
                     "[io_uring|epoll|both] [rounds >= 1]\n",
                     header_size);
        return 1;
    }
    std::printf("UDP echo, %d sockets x %d in flight, %zu-byte datagrams, %.1f s per backend in %d rounds, client "
                "batch %d\n",
                sockets, window, size, seconds, rounds, batch);
    std::vector<Result> u, e;
    for (int r = 0; r < rounds; ++r) {
        for (int k = 0; k < 2; ++k) {
            const bool uring = (k == 0) == (r % 2 == 0);  // io_uring first in odd rounds (1st, 3rd, ...)
            if (uring && only != "epoll")
                u.push_back(run(pants::BackendKind::io_uring, seconds / rounds, sockets, window, size, std::size_t(batch)));
            if (!uring && only != "io_uring")
                e.push_back(run(pants::BackendKind::epoll, seconds / rounds, sockets, window, size, std::size_t(batch)));
        }
    }
    const Result ut = combine(u), et = combine(e);
    if (only != "epoll") print("io_uring", ut);
    if (only != "io_uring") print("epoll", et);
    if (only.empty())
        std::printf("ratio     %s (io_uring / epoll datagrams/s); server CPU per datagram %s (epoll / io_uring); "
                    "medians of the rounds' ratios (range)\n",
                    ratio_of(u, e, &Result::per_second).c_str(), ratio_of(e, u, &Result::server_cpu_us).c_str());
    const bool ok = (only == "epoll" || judge("io_uring", ut)) & (only == "io_uring" || judge("epoll", et));
    std::printf("%s\n", ok ? "udp_bench: ok, every echo verified" : "udp_bench: FAILED (see stderr)");
    return ok ? 0 : 2;
}
