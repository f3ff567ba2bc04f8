// Sockets made elsewhere (issue 10): a Stream adopting a connected socket
// in callback style, a Server adopting a listening socket (also through
// systemd socket activation), a Datagram adopting a bound socket; and the
// listen notifications (on_listen, listening(), connecting()).
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "net_helpers.hpp"

using namespace std::chrono_literals;
using pants::Address;
using test::run_until;

namespace {

bool nonblocking(int fd) { return ::fcntl(fd, F_GETFL) & O_NONBLOCK; }

struct Adopted : pants::Stream {
    using pants::Stream::Stream;
    std::vector<std::string> events;
    void on_connect() override { events.push_back("connect"); }
    void on_read(std::string_view d) override {
        events.push_back("read:" + std::string(d));
        write(d);
    }
    void on_close() override { events.push_back("close"); }
};

struct Echo : pants::Connection {
    void on_read(std::string_view data) override { write(data); }
};

// A listening TCP socket on 127.0.0.1, blocking, as another program makes it.
int blocking_listener(Address& at) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    Address any = Address::loopback_v4(0);
    REQUIRE(::bind(fd, any.data(), any.size()) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = Address::capacity();
    REQUIRE(::getsockname(fd, at.data(), &len) == 0);
    at.set_size(len);
    return fd;
}

struct ListenRecorder : pants::Server<Echo> {
    using pants::Server<Echo>::Server;
    int listens = 0;
    void on_listen() override { ++listens; }
};

}  // namespace

TEST_CASE("a stream adopting a connected socket calls on_connect, then on_read, and is non-blocking") {
    pants::Engine engine;
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);  // blocking, as made elsewhere
    REQUIRE(::write(fds[1], "early", 5) == 5);  // already waiting when adopted
    Adopted s(engine, fds[0]);
    CHECK(nonblocking(fds[0]));
    CHECK(s.connected());
    CHECK(s.events.empty());  // never inside the constructor
    run_until(engine, [&] { return s.events.size() >= 2; });
    CHECK(s.events == std::vector<std::string>{"connect", "read:early"});
    std::string echoed;
    char buf[16];
    run_until(engine, [&] {
        ssize_t n = ::recv(fds[1], buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) echoed.append(buf, std::size_t(n));
        return echoed == "early";
    });
    ::close(fds[1]);
    run_until(engine, [&] { return s.closed(); });
    CHECK(s.events.back() == "close");
}

TEST_CASE("an adopted stream closed before its first turn never calls on_connect") {
    pants::Engine engine;
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    Adopted s(engine, fds[0]);
    s.close();
    run_until(engine, [&] { return s.closed(); });
    CHECK(s.events == std::vector<std::string>{"close"});
    ::close(fds[1]);
}

TEST_CASE("a server adopting a listening socket accepts on it and calls on_listen") {
    pants::Engine engine;
    Address at;
    int fd = blocking_listener(at);
    ListenRecorder server(engine);
    REQUIRE(server.assign(fd));
    CHECK(nonblocking(fd));
    CHECK(server.listening());
    CHECK(server.listens == 0);  // on a later turn
    auto peer = test::RawPeer::connect_to(at);
    peer.send("hello");
    std::string got;
    run_until(engine, [&] {
        peer.drain(got);
        return got == "hello";
    });
    CHECK(server.listens == 1);
    CHECK(server.local_address()->port() == at.port());
    CHECK(server.assign(fd).error() == std::errc::already_connected);  // one listener per server
}

TEST_CASE("a server refuses a socket that is not listening") {
    pants::Engine engine;
    pants::Server<Echo> server(engine);
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(server.assign(fd).error() == std::errc::invalid_argument);
    CHECK_FALSE(server.listening());
    int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(server.assign(udp).error() == std::errc::wrong_protocol_type);
    CHECK(server.assign(-1).error() == std::errc::bad_file_descriptor);
    ::close(fd);  // still ours: not taken
    ::close(udp);
}

TEST_CASE("listen notifies on_listen once, on a later turn") {
    pants::Engine engine;
    ListenRecorder server(engine);
    REQUIRE(server.listen(test::loopback()));
    CHECK(server.listens == 0);
    run_until(engine, [&] { return server.listens == 1; });
    engine.poll(0ms);
    CHECK(server.listens == 1);
}

TEST_CASE("listen_fds takes sockets passed as systemd does") {
    // A child process gets the socket as fd 3 and LISTEN_* for its own pid,
    // as systemd starts a socket-activated service; it serves one echo.
    Address at;
    int listener = blocking_listener(at);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int code = 10;
        if (::dup2(listener, 3) == 3) {
            if (listener != 3) ::close(listener);
            ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
            ::setenv("LISTEN_FDS", "1", 1);
            ::setenv("LISTEN_FDNAMES", "echo", 1);
            auto fds = pants::listen_fds();
            code = 11;
            if (fds.size() == 1 && fds[0].fd == 3 && fds[0].name == "echo" && !std::getenv("LISTEN_FDS") &&
                (::fcntl(3, F_GETFD) & FD_CLOEXEC)) {
                code = 12;
                pants::Engine engine;
                pants::Server<Echo> server(engine);
                bool served = false;
                if (server.assign(fds[0].fd)) {
                    code = 13;
                    served = engine.run_until([&] { return server.connections().size() == 1; }, 20s) &&
                             engine.run_until([&] { return server.connections().empty(); }, 20s);
                }
                if (served) code = 0;
            }
        }
        ::_exit(code);
    }
    ::close(listener);  // the child has its own copy
    {
        auto peer = test::RawPeer::connect_to(at);
        ::fcntl(peer.fd, F_SETFL, 0);  // blocking, bounded by the child's own 20 s
        peer.send("activated");
        std::string got(9, '\0');
        REQUIRE(::recv(peer.fd, got.data(), got.size(), MSG_WAITALL) == 9);
        CHECK(got == "activated");
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("listen_fds ignores variables meant for another process") {
    ::setenv("LISTEN_PID", std::to_string(::getpid() + 1).c_str(), 1);
    ::setenv("LISTEN_FDS", "2", 1);
    CHECK(pants::listen_fds().empty());
    CHECK_FALSE(std::getenv("LISTEN_FDS"));  // removed either way
    ::unsetenv("LISTEN_PID");
    CHECK(pants::listen_fds().empty());  // none set at all
}

namespace {

struct DatagramRecorder : pants::Datagram {
    using pants::Datagram::Datagram;
    std::vector<std::string> reads;
    int listens = 0;
    void on_read(std::string_view d, const Address& from) override {
        reads.emplace_back(d);
        write(d, from);
    }
    void on_listen() override { ++listens; }
};

}  // namespace

TEST_CASE("a datagram channel adopting a bound socket receives and answers on it") {
    pants::Engine engine;
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);  // blocking, as made elsewhere
    Address any = Address::loopback_v4(0);
    REQUIRE(::bind(fd, any.data(), any.size()) == 0);
    DatagramRecorder d(engine);
    CHECK_FALSE(d.listening());
    REQUIRE(d.assign(fd));
    CHECK(nonblocking(fd));
    CHECK(d.listening());
    CHECK(d.assign(fd).error() == std::errc::already_connected);
    auto at = d.local_address();
    REQUIRE(at);

    int peer = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(::sendto(peer, "ping", 4, 0, at->data(), at->size()) == 4);
    run_until(engine, [&] { return d.reads.size() == 1; });
    CHECK(d.reads[0] == "ping");
    CHECK(d.listens == 1);
    char buf[16];
    ssize_t n = 0;
    run_until(engine, [&] { return (n = ::recv(peer, buf, sizeof buf, MSG_DONTWAIT)) > 0; });
    CHECK(std::string(buf, std::size_t(n)) == "ping");
    ::close(peer);
    d.close();
    run_until(engine, [&] { return d.closed(); });
    CHECK_FALSE(d.listening());
}

TEST_CASE("a datagram channel refuses a stream socket") {
    pants::Engine engine;
    pants::Datagram d(engine);
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(d.assign(fd).error() == std::errc::wrong_protocol_type);
    ::close(fd);
}

TEST_CASE("Datagram listen sets listening and calls on_listen on a later turn") {
    pants::Engine engine;
    DatagramRecorder d(engine);
    REQUIRE(d.listen(Address::loopback_v4(0)));
    CHECK(d.listening());
    CHECK(d.listens == 0);
    run_until(engine, [&] { return d.listens == 1; });
}

TEST_CASE("connecting() is true while a connect is under way, then false") {
    pants::Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(test::loopback()));
    test::Recorder c(engine);
    CHECK_FALSE(c.connecting());
    c.connect(*server.local_address());
    CHECK(c.connecting());
    CHECK_FALSE(c.connected());
    run_until(engine, [&] { return c.connected(); });
    CHECK_FALSE(c.connecting());
    c.close();
    run_until(engine, [&] { return c.closes == 1; });
    CHECK_FALSE(c.connecting());
}
