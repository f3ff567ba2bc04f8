// SIGPIPE never reaches the process from a library call (issue 9.1).
//
// sendfile() and splice() have no MSG_NOSIGNAL: on a socket whose peer has
// gone they raise SIGPIPE, which kills a process that left it at SIG_DFL,
// as most do. Each case sends a large file with write_file() to a peer that
// goes away mid-transfer, with SIGPIPE at SIG_DFL and unblocked: the
// process must survive, the stream must report the error, and the
// application's signal set-up must be as it was.
#include "net_helpers.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

using namespace test;
using pants::Engine;

namespace {

// SIGPIPE at SIG_DFL and unblocked in this thread for the test's duration.
struct DefaultSigpipe {
    struct sigaction old_action {};
    sigset_t old_mask{};
    DefaultSigpipe() {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        REQUIRE(::sigaction(SIGPIPE, &dfl, &old_action) == 0);
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        REQUIRE(::pthread_sigmask(SIG_UNBLOCK, &pipe, &old_mask) == 0);
    }
    ~DefaultSigpipe() {
        ::sigaction(SIGPIPE, &old_action, nullptr);
        ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    }
    // The library left the disposition and this thread's mask alone, and
    // no SIGPIPE waits to be delivered later.
    static void check_untouched() {
        struct sigaction now {};
        REQUIRE(::sigaction(SIGPIPE, nullptr, &now) == 0);
        CHECK((now.sa_handler == SIG_DFL));
        sigset_t mask, pending;
        ::pthread_sigmask(SIG_BLOCK, nullptr, &mask);
        CHECK_FALSE(sigismember(&mask, SIGPIPE));
        ::sigpending(&pending);
        CHECK_FALSE(sigismember(&pending, SIGPIPE));
    }
};

// A sparse file far larger than any socket buffer: the transfer is still
// running whenever the peer goes.
struct BigFile {
    TempDir dir{"pants-sigpipe"};
    std::string path = dir.write("big.bin", "");
    BigFile() { std::filesystem::resize_file(path, std::uintmax_t(1) << 30); }
};

struct FileSender : pants::Connection {
    static inline std::string path;
    static inline std::vector<std::string> events;
    static inline std::error_code error;
    void on_connect() override { REQUIRE(write_file(path)); }
    void on_read_error(std::error_code e) override {
        error = e;
        events.push_back("read_error");
    }
    void on_write_error(std::error_code e) override {
        error = e;
        events.push_back("write_error");
    }
    void on_close() override { events.push_back("close"); }
};

bool closed() { return !FileSender::events.empty() && FileSender::events.back() == "close"; }

// A raw peer of a Unix-socket server.
RawPeer connect_unix(const std::string& path) {
    RawPeer p;
    p.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto a = pants::Address::unix_path(path);
    REQUIRE(a);
    REQUIRE(::connect(p.fd, a->data(), a->size()) == 0);
    ::fcntl(p.fd, F_SETFL, O_NONBLOCK);
    return p;
}

// Runs until the file's first bytes have reached `peer` (left unread).
void wait_for_first_bytes(Engine& engine, RawPeer& peer) {
    run_until(engine, [&] {
        char c;
        return ::recv(peer.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
    });
}

// The peer shuts down its sending side and the sender sees the end of its
// input: it ends, still sending the file (a half-closed peer still gets
// its data). The next step of the peer then fails that sending with EPIPE,
// which is the error that raises SIGPIPE.
template <class Server>
void half_close(Engine& engine, Server& server, RawPeer& peer) {
    REQUIRE(server.connections().size() == 1);
    REQUIRE(::shutdown(peer.fd, SHUT_WR) == 0);
    // A closing connection leaves the server's list of open ones.
    run_until(engine, [&] { return server.connections().empty(); });
    REQUIRE(FileSender::events.empty());
}

}  // namespace

// Serves a 1 GiB write_file to a TCP peer that half-closes once bytes flow
// and then ends as `end_peer` says: the process survives (SIGPIPE stays at
// its default) and the stream reports a write error, then closes.
static void peer_ends_during_write_file(void (*end_peer)(RawPeer&)) {
    DefaultSigpipe sigpipe;
    BigFile file;
    Engine engine;
    FileSender::path = file.path;
    FileSender::events.clear();
    pants::Server<FileSender> server(engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    wait_for_first_bytes(engine, peer);
    half_close(engine, server, peer);
    end_peer(peer);
    run_until(engine, closed);
    CHECK(FileSender::events == std::vector<std::string>{"write_error", "close"});
    CHECK((FileSender::error == std::errc::broken_pipe || FileSender::error == std::errc::connection_reset));
    DefaultSigpipe::check_untouched();
}

TEST_CASE("a TCP peer that closes during write_file raises no SIGPIPE and gives a write error") {
    peer_ends_during_write_file([](RawPeer& peer) { ::close(std::exchange(peer.fd, -1)); });
}

TEST_CASE("a TCP peer that resets during write_file raises no SIGPIPE and gives a write error") {
    // SO_LINGER 0: an RST, not the close of a socket with unread data
    peer_ends_during_write_file([](RawPeer& peer) { peer.reset(); });
}

TEST_CASE("a Unix-socket peer that closes during write_file raises no SIGPIPE and gives a write error") {
    DefaultSigpipe sigpipe;
    BigFile file;
    Engine engine;
    FileSender::path = file.path;
    FileSender::events.clear();
    auto path = (file.dir.path / "server.sock").string();
    pants::Server<FileSender> server(engine);
    REQUIRE(server.listen(*pants::Address::unix_path(path)));
    RawPeer peer = connect_unix(path);
    wait_for_first_bytes(engine, peer);
    half_close(engine, server, peer);
    ::close(std::exchange(peer.fd, -1));
    run_until(engine, closed);
    CHECK(FileSender::events == std::vector<std::string>{"write_error", "close"});
    CHECK((FileSender::error == std::errc::broken_pipe || FileSender::error == std::errc::connection_reset));
    DefaultSigpipe::check_untouched();
}
