// tls_loadgen: load for bench/tls.sh, plain or TLS, built on Pants (its
// backend is whatever PANTS_BACKEND says; tls.sh keeps it at epoll for every
// case, so only the server's backend changes between the columns).
//
//   tls_loadgen echo      PORT CONNS SIZE SECONDS [CA.pem]
//       CONNS connections, each writes SIZE bytes and waits for them back,
//       in a loop; prints echoed messages per second. TLS when CA.pem is
//       given (the server is verified as localhost).
//   tls_loadgen handshake PORT CONNS SECONDS CA.pem full|resumed
//       CONNS loops of: connect over TLS, echo one byte, end; prints
//       handshakes per second (full: resumption off; resumed: every
//       connection after a loop's first resumes its session).
// Measures after a 0.5 s warm-up. Exit status 1 on any failure.
#include <pants/pants.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

namespace {

struct Run {
    pants::Engine& engine;
    std::uint16_t port;
    pants::tls::Context* ctx;
    bool measuring = false;
    bool stop = false;
    long count = 0;
};

[[noreturn]] void die(const char* what, std::error_code ec) {
    std::fprintf(stderr, "tls_loadgen: %s: %s\n", what, ec.message().c_str());
    std::_Exit(1);
}

pants::Task<> echo_loop(Run& run, std::size_t size) {
    pants::Client c(run.engine);
    auto connected = run.ctx ? co_await c.connect("localhost", run.port, *run.ctx) : co_await c.connect("localhost", run.port);
    if (!connected) die("connect", connected.error());
    const std::string message(size, 'x');
    while (!run.stop) {
        co_await c.write(message);
        auto back = co_await c.read_exactly(size);
        if (!back) die("read", back.error());
        if (run.measuring) ++run.count;
    }
}

pants::Task<> handshake_loop(Run& run) {
    while (!run.stop) {
        pants::Client c(run.engine);
        auto connected = co_await c.connect("localhost", run.port, *run.ctx);
        if (!connected) die("connect", connected.error());
        // One byte there and back: a TLS 1.3 ticket comes after the handshake.
        co_await c.write("x");
        auto back = co_await c.read_exactly(1);
        if (!back) die("read", back.error());
        if (run.measuring) ++run.count;
        c.end();  // finishes after this Client is gone
    }
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (!((mode == "echo" && (argc == 6 || argc == 7)) || (mode == "handshake" && argc == 7))) {
        std::fprintf(stderr, "usage: tls_loadgen echo PORT CONNS SIZE SECONDS [CA.pem]\n"
                             "       tls_loadgen handshake PORT CONNS SECONDS CA.pem full|resumed\n");
        return 2;
    }
    pants::Engine& engine = pants::Engine::instance();
    const int conns = std::atoi(argv[3]);
    const double seconds = std::atof(argv[mode == "echo" ? 5 : 4]);
    const char* ca = mode == "echo" ? (argc == 7 ? argv[6] : nullptr) : argv[5];
    std::optional<pants::tls::Context> ctx;
    if (ca) {
        auto c = pants::tls::Context::client();
        if (!c) die("context", c.error());
        if (auto r = c->load_ca_file(ca); !r) die(ca, r.error());
        if (mode == "handshake") c->set_session_resumption(std::string(argv[6]) == "resumed");
        ctx = *c;
    }
    Run run{engine, std::uint16_t(std::atoi(argv[2])), ctx ? &*ctx : nullptr};
    for (int i = 0; i < conns; ++i)
        engine.spawn(mode == "echo" ? echo_loop(run, std::size_t(std::atoi(argv[4]))) : handshake_loop(run));
    const auto warmup = std::chrono::milliseconds(500);
    const auto measured = std::chrono::milliseconds(long(seconds * 1000));
    pants::Timer begin = engine.defer(warmup, [&] { run.measuring = true; });
    pants::Timer end = engine.defer(warmup + measured, [&] {
        run.stop = true;
        std::printf("%.0f\n", double(run.count) / seconds);
        std::fflush(stdout);
        std::_Exit(0);  // connections still open: the server sees them go
    });
    engine.start();
}
