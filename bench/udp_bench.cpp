// udp_bench: datagrams per second through a pants UDP echo server, on
// io_uring and then on epoll, in one run; prints both and their ratio.
//
//   build-release/bench/udp_bench [seconds per backend] [sockets] [window] [size]
//
// The server is a pants::Datagram echo (as examples/udp_echo) on its own
// Engine and thread. The load comes from plain non-blocking sockets on
// another thread, without pants, so it measures the server: each client
// socket keeps `window` datagrams in flight and sends one more per echo, so
// nothing overflows a socket buffer on loopback. bench/udp.sh runs it.
#include <pants/pants.hpp>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

class Echo : public pants::Datagram {
public:
    using pants::Datagram::Datagram;
    void on_read(std::string_view data, const pants::Address&) override { write(data); }
};

struct Result {
    double per_second = 0;
    std::uint64_t echoed = 0;
};

// Sends and counts echoes for `seconds` after a short warm-up.
Result load(const pants::Address& server, double seconds, int sockets, int window, std::size_t size) {
    int ep = ::epoll_create1(0);
    std::vector<int> fds;
    std::string payload(size, 'u');
    for (int i = 0; i < sockets; ++i) {
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        ::connect(fd, server.data(), server.size());
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        for (int k = 0; k < window; ++k) ::send(fd, payload.data(), payload.size(), 0);
        fds.push_back(fd);
    }
    char buf[65536];
    std::uint64_t count = 0, at_start = 0;
    const auto warm = Clock::now() + std::chrono::milliseconds(300);
    const auto end = warm + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    bool measuring = false;
    Clock::time_point t0;
    epoll_event events[64];
    for (;;) {
        auto now = Clock::now();
        if (!measuring && now >= warm) {
            measuring = true;
            at_start = count;
            t0 = now;
        }
        if (now >= end) break;
        int n = ::epoll_wait(ep, events, 64, 100);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            while (::recv(fd, buf, sizeof buf, 0) > 0) {
                ++count;
                ::send(fd, payload.data(), payload.size(), 0);
            }
        }
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    for (int fd : fds) ::close(fd);
    ::close(ep);
    return {double(count - at_start) / elapsed, count - at_start};
}

Result run(pants::BackendKind kind, double seconds, int sockets, int window, std::size_t size) {
    std::atomic<pants::Engine*> engine{nullptr};
    std::atomic<int> port{0};
    std::thread server([&] {
        pants::Engine::Options options;
        options.backend = kind;
        pants::Engine e(options);
        Echo echo(e);
        if (!echo.listen(pants::Address::loopback_v4(0))) std::abort();
        port = echo.local_address()->port();
        engine = &e;
        e.start();
    });
    while (!engine) std::this_thread::yield();
    Result r = load(pants::Address::loopback_v4(std::uint16_t(port.load())), seconds, sockets, window, size);
    engine.load()->stop();
    server.join();
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 3;
    int sockets = argc > 2 ? std::atoi(argv[2]) : 8;
    int window = argc > 3 ? std::atoi(argv[3]) : 16;
    std::size_t size = argc > 4 ? std::size_t(std::atoi(argv[4])) : 64;
    std::printf("UDP echo, %d sockets x %d in flight, %zu-byte datagrams, %.1f s per backend\n", sockets, window,
                size, seconds);
    Result u = run(pants::BackendKind::io_uring, seconds, sockets, window, size);
    std::printf("io_uring  %12.0f datagrams/s\n", u.per_second);
    Result e = run(pants::BackendKind::epoll, seconds, sockets, window, size);
    std::printf("epoll     %12.0f datagrams/s\n", e.per_second);
    std::printf("ratio     %12.2f (io_uring / epoll)\n", e.per_second > 0 ? u.per_second / e.per_second : 0.0);
}
