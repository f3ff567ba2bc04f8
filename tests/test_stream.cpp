// Streams with callbacks: Pants' core tests, as behaviour, over loopback.
#include "net_helpers.hpp"
#include "skip.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace test;
using pants::Engine;

namespace {

struct Echo : pants::Connection {
    void on_read(std::string_view data) override { write(data); }
};

// Server side records of the framing tests.
std::vector<std::string> server_frames;
int server_closes = 0;

template <class Setup>
struct Framed : pants::Connection {
    Framed() { Setup::apply(*this); }
    void on_read(std::string_view data) override { server_frames.emplace_back(data); }
    void on_close() override { ++server_closes; }
};

struct LineSetup {
    static void apply(pants::Stream& s) { s.read_delimiter = "\r\n"; }
};
struct CountSetup {
    static void apply(pants::Stream& s) { s.read_delimiter = 3; }
};
struct RecordSetup {
    static void apply(pants::Stream& s) { s.read_delimiter = pants::ReadDelimiter::fixed_record(4); }
};
struct PrefixSetup {
    static void apply(pants::Stream& s) {
        s.read_delimiter = pants::ReadDelimiter::length_prefixed(2, pants::ByteOrder::little);
    }
};
struct FunctionSetup {
    // Frames end at a NUL byte; the NUL is dropped.
    static void apply(pants::Stream& s) {
        s.read_delimiter = pants::ReadDelimiter::function(
            [](std::string_view b) -> pants::Result<std::optional<pants::Frame>> {
                auto p = b.find('\0');
                if (p == std::string_view::npos) return std::optional<pants::Frame>{};
                return std::optional<pants::Frame>(pants::Frame{0, p, p + 1});
            });
    }
};

// Sends `data` to a server of kind C, all at once or one byte per turn,
// and checks the frames the server saw.
template <class C>
void check_framing(const std::string& data, const std::vector<std::string>& expected, bool byte_at_a_time) {
    Engine engine;
    server_frames.clear();
    server_closes = 0;
    pants::Server<C> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    if (byte_at_a_time) {
        std::size_t i = 0;
        pants::Timer t = engine.loop([&] {
            if (!client.connected()) return;
            if (i < data.size()) client.write(std::string_view(data).substr(i++, 1));
        });
        run_until(engine, [&] { return i == data.size(); });
        t.cancel();
    } else {
        client.write(data);
    }
    client.end();
    run_until(engine, [&] { return server_closes == 1; });
    CHECK(server_frames == expected);
}

}  // namespace

TEST_CASE("echo with one client") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    client.write("Hello, world!");
    run_until(engine, [&] { return client.got.size() == 13; });
    CHECK(client.got == "Hello, world!");
    CHECK(client.events.front() == "connect");
    client.close();
    run_until(engine, [&] { return client.closes == 1 && server.connections().empty(); });
}

TEST_CASE("echo with two sequential clients") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    for (int i = 0; i < 2; ++i) {
        Recorder client(engine);
        client.connect(*server.local_address());
        std::string msg = "client " + std::to_string(i);
        client.write(msg);
        run_until(engine, [&] { return client.got.size() == msg.size(); });
        CHECK(client.got == msg);
        client.close();
        run_until(engine, [&] { return client.closed(); });
    }
}

TEST_CASE("echo with two concurrent clients keeps their bytes apart") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder a(engine), b(engine);
    a.connect(*server.local_address());
    b.connect(*server.local_address());
    std::string pa = pattern(200'000, 1), pb = pattern(200'000, 2);
    a.write(pa);
    b.write(pb);
    run_until(engine, [&] { return a.got.size() == pa.size() && b.got.size() == pb.size(); });
    CHECK(a.got == pa);
    CHECK(b.got == pb);
    CHECK(server.connections().size() == 2);
}

namespace {
struct Chat : pants::Connection {
    void on_read(std::string_view data) override {
        for (pants::Stream* c : server()->connections()) c->write(data);
    }
};
}  // namespace

TEST_CASE("echo to all reaches every connection") {
    Engine engine;
    pants::Server<Chat> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder a(engine), b(engine), c(engine);
    for (auto* r : {&a, &b, &c}) r->connect(*server.local_address());
    run_until(engine, [&] { return server.connections().size() == 3; });
    a.write("hi all");
    run_until(engine, [&] { return a.got.size() == 6 && b.got.size() == 6 && c.got.size() == 6; });
    CHECK(b.got == "hi all");
    CHECK(c.got == "hi all");
}

TEST_CASE("read_delimiter string, all at once and one byte at a time") {
    for (bool slow : {false, true})
        check_framing<Framed<LineSetup>>("one\r\ntwo\r\n\r\nthree\r\n", {"one", "two", "", "three"}, slow);
}

TEST_CASE("read_delimiter byte count, all at once and one byte at a time") {
    for (bool slow : {false, true}) check_framing<Framed<CountSetup>>("abcdefghi", {"abc", "def", "ghi"}, slow);
}

TEST_CASE("read_delimiter fixed binary records, all at once and one byte at a time") {
    std::string data("\x01\x00\x00\x00\x02\x00\x00\x00", 8);
    for (bool slow : {false, true})
        check_framing<Framed<RecordSetup>>(data, {data.substr(0, 4), data.substr(4, 4)}, slow);
}

TEST_CASE("read_delimiter length-prefixed, all at once and one byte at a time") {
    std::string data("\x03\x00" "abc" "\x00\x00" "\x02\x00" "de", 11);
    for (bool slow : {false, true}) check_framing<Framed<PrefixSetup>>(data, {"abc", "", "de"}, slow);
}

TEST_CASE("read_delimiter user function, all at once and one byte at a time") {
    std::string data("ab\0cde\0\0", 8);
    for (bool slow : {false, true}) check_framing<Framed<FunctionSetup>>(data, {"ab", "cde", ""}, slow);
}

namespace {
struct SmallBuffer : pants::Connection {
    static inline std::vector<std::string> events;
    SmallBuffer() {
        read_delimiter = "\n";
        buffer_size = 16;
    }
    void on_read(std::string_view d) override { events.emplace_back(d); }
    void on_overflow_error(std::error_code e) override {
        CHECK(e == pants::NetError::buffer_overflow);
        events.push_back("overflow");
    }
    void on_close() override { events.push_back("close"); }
};
}  // namespace

TEST_CASE("a frame larger than buffer_size gives on_overflow_error and closes that channel only") {
    Engine engine;
    SmallBuffer::events.clear();
    pants::Server<SmallBuffer> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder bad(engine), good(engine);
    bad.connect(*server.local_address());
    good.connect(*server.local_address());
    bad.write("short\n" + std::string(100, 'x'));
    run_until(engine, [&] { return bad.closes == 1; });
    CHECK(SmallBuffer::events == std::vector<std::string>{"short", "overflow", "close"});
    good.write("fine\n");
    run_until(engine, [&] { return SmallBuffer::events.size() == 4; });
    CHECK(SmallBuffer::events.back() == "fine");
}

namespace {
struct Collect : pants::Connection {
    static inline std::string got;
    static inline std::vector<std::string> events;
    void on_read(std::string_view d) override {
        got += d;
        if (events.empty() || events.back() != "read") events.push_back("read");
    }
    void on_close() override { events.push_back("close"); }
};
}  // namespace

TEST_CASE("data that arrives just before the peer closes is delivered before on_close") {
    Engine engine;
    Collect::got.clear();
    Collect::events.clear();
    pants::Server<Collect> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    std::string data = pattern(300'000);
    client.write(data);
    client.end();
    run_until(engine, [&] { return !Collect::events.empty() && Collect::events.back() == "close"; });
    CHECK(Collect::got == data);
    CHECK(Collect::events == std::vector<std::string>{"read", "close"});
}

TEST_CASE("a half-closed peer still gets the replies queued before it closed") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    std::string data = pattern(100'000);
    peer.send(data);
    ::shutdown(peer.fd, SHUT_WR);
    CHECK(read_to_end(engine, peer) == data);
}

TEST_CASE("connect refused reaches on_connect_error, then on_close") {
    Engine engine;
    // A port nobody listens on: bind one, then close it.
    int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    auto any = loopback();
    REQUIRE(::bind(probe, any.data(), any.size()) == 0);
    socklen_t len = pants::Address::capacity();
    pants::Address bound;
    ::getsockname(probe, bound.data(), &len);
    bound.set_size(len);
    ::close(probe);
    Recorder client(engine);
    client.connect(bound);
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(client.error == std::errc::connection_refused);
    CHECK(client.events == std::vector<std::string>{"connect_error", "close"});
}

TEST_CASE("write never blocks, loses nothing, and on_write fires when the queue drains") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    std::string expected;
    for (int i = 0; i < 1000; ++i) {
        std::string chunk = pattern(4096, unsigned(i));
        client.write(chunk);
        expected += chunk;
    }
    CHECK(client.pending_write_bytes() == expected.size());
    run_until(engine, [&] { return client.got.size() == expected.size(); });
    CHECK(client.got == expected);
    CHECK(client.writes_drained >= 1);
    CHECK(client.pending_write_bytes() == 0);
}

TEST_CASE("closing with reads and writes in flight is safe and on_close fires once") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    {
        Recorder client(engine);
        client.connect(*server.local_address());
        run_until(engine, [&] { return client.connected(); });
        client.write(pattern(4 << 20));
        engine.poll(std::chrono::milliseconds(0));
        client.close();
        client.close();
        CHECK(client.closes == 0);  // never inside close()
        run_until(engine, [&] { return client.closes == 1; });
    }
    {
        // Destroyed outright with operations in flight.
        auto client = std::make_unique<Recorder>(engine);
        client->connect(*server.local_address());
        run_until(engine, [&] { return client->connected(); });
        client->write(pattern(4 << 20));
        engine.poll(std::chrono::milliseconds(0));
        client.reset();
    }
    run_until(engine, [&] { return server.connections().empty() && engine.backend().in_flight() == 1; });
}

namespace {
struct Sink : pants::Connection {
    static inline std::vector<std::string> events;
    void on_connect() override { write(pattern(64 << 20)); }  // more than any socket buffer
    void on_write_error(std::error_code e) override {
        events.push_back(e == std::errc::connection_reset || e == std::errc::broken_pipe ? "write_error" : e.message());
    }
    void on_read_error(std::error_code) override { events.push_back("read_error"); }
    void on_close() override { events.push_back("close"); }
};

struct Sender : pants::Connection {
    static inline std::string path;
    void on_connect() override {
        write("head:");
        REQUIRE(write_file(path));
        write(":tail");
        end();
    }
};

struct Slice : pants::Connection {
    static inline int fd;
    void on_connect() override {
        REQUIRE(write_file(fd, {.offset = 1000, .size = 5000}));
        end();
    }
};
}  // namespace

TEST_CASE("a peer reset during a write reaches that channel only") {
    Engine engine;
    Sink::events.clear();
    pants::Server<Sink> server(engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    run_until(engine, [&] { return server.connections().size() == 1; });
    engine.run_until([] { return false; }, std::chrono::milliseconds(20));
    peer.reset();
    run_until(engine, [&] { return !Sink::events.empty() && Sink::events.back() == "close"; });
    CHECK(Sink::events.size() == 2);
    CHECK((Sink::events[0] == "write_error" || Sink::events[0] == "read_error"));
    // The server goes on.
    Recorder other(engine);
    other.connect(*server.local_address());
    run_until(engine, [&] { return other.got.size() > 0; });
}

namespace {

// Records the errors that reach on_error (read and write errors fall back
// to it) and how often it closed.
struct ErrorRecorder : pants::Client {
    using pants::Client::Client;
    std::vector<std::error_code> errors;
    int closes = 0;
    void on_error(std::error_code e) override { errors.push_back(e); }
    void on_close() override { ++closes; }
};

}  // namespace

TEST_CASE("a peer reset while end() still flushes is reported as a reset, once") {
    // The receive that end() keeps armed (to drain) saw the reset first on
    // epoll and kept quiet; the next send then failed with EPIPE instead.
    Engine engine;
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    pants::Address at = loopback();
    REQUIRE(::bind(listener, at.data(), at.size()) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    socklen_t len = at.capacity();
    REQUIRE(::getsockname(listener, at.data(), &len) == 0);
    at.set_size(len);
    ErrorRecorder client(engine);
    client.connect(at);
    run_until(engine, [&] { return client.connected(); });
    RawPeer peer;  // never reads
    peer.fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    ::close(listener);
    REQUIRE(peer.fd >= 0);
    client.write(pattern(16 << 20));  // more than the socket buffers take
    client.end();
    // Until a turn queues no byte: the socket buffers are full, and the
    // send waits for room beside the receive.
    int queued = -1;
    run_until(engine, [&] {
        int now = 0;
        REQUIRE(::ioctl(client.fd(), TIOCOUTQ, &now) == 0);
        return now > 0 && std::exchange(queued, now) == now;
    });
    peer.reset();
    run_until(engine, [&] { return client.closes == 1; });
    engine.poll(0ms);
    REQUIRE(client.errors.size() == 1);
    CHECK(client.errors[0] == std::errc::connection_reset);
    CHECK(client.closes == 1);
}

TEST_CASE("1,000 concurrent connections each echo their own bytes") {
    rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlimit raised = rl;
    raised.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);
    setrlimit(RLIMIT_NOFILE, &raised);
    REQUIRE(raised.rlim_cur >= 2100);
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback(), 4096));
    std::vector<std::unique_ptr<Recorder>> clients;
    for (int i = 0; i < 1000; ++i) {
        clients.push_back(std::make_unique<Recorder>(engine));
        clients.back()->connect(*server.local_address());
        clients.back()->write("client " + std::to_string(i));
    }
    run_until(engine, [&] {
        for (int i = 0; i < 1000; ++i)
            if (clients[std::size_t(i)]->got.size() < ("client " + std::to_string(i)).size()) return false;
        return true;
    });
    for (int i = 0; i < 1000; ++i) CHECK(clients[std::size_t(i)]->got == "client " + std::to_string(i));
    CHECK(server.connections().size() == 1000);
    clients.clear();
    run_until(engine, [&] { return server.connections().empty(); });
    setrlimit(RLIMIT_NOFILE, &rl);
}

TEST_CASE("write_file of a 10 MiB file arrives byte-exact") {
    Engine engine;
    TempDir dir("pants-file");
    std::string data = pattern(10 << 20, 7);
    std::string path = dir.write("data.bin", data);
    Sender::path = path;
    pants::Server<Sender> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(client.got.size() == data.size() + 10);
    CHECK(client.got == "head:" + data + ":tail");
    // A slice, from an fd.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    Slice::fd = fd;
    pants::Server<Slice> server2(engine);
    REQUIRE(server2.listen(loopback()));
    Recorder c2(engine);
    c2.connect(*server2.local_address());
    run_until(engine, [&] { return c2.closes == 1; });
    CHECK(c2.got == data.substr(1000, 5000));
    ::close(fd);
}

TEST_CASE("echo over a Unix socket") {
    Engine engine;
    auto path = std::filesystem::temp_directory_path() / ("pants-echo-" + std::to_string(::getpid()) + ".sock");
    std::filesystem::remove(path);
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(*pants::Address::unix_path(path.string())));
    Recorder client(engine);
    client.connect(*pants::Address::unix_path(path.string()));
    client.write("over unix");
    run_until(engine, [&] { return client.got.size() == 9; });
    CHECK(client.got == "over unix");
    CHECK(client.remote_address()->to_string() == path.string());
    std::filesystem::remove(path);
}

TEST_CASE("echo over IPv6 loopback") {
    Engine engine;
    pants::Server<Echo> server(engine);
    auto r = server.listen(pants::Address::loopback_v6(0));
    if (!r) PANTS_SKIP("no IPv6 here: " + r.error().message());
    Recorder client(engine);
    client.connect(*server.local_address());
    client.write("over v6");
    run_until(engine, [&] { return client.got.size() == 7; });
    CHECK(client.got == "over v6");
    CHECK(client.local_address()->is_ipv6());
}

TEST_CASE("listen on port 0 reports the real port, and Client connects to localhost") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(0, "127.0.0.1"));
    auto port = server.local_address()->port();
    CHECK(port != 0);
    Recorder client(engine);
    client.connect("localhost", port);
    client.write("named");
    run_until(engine, [&] { return client.got == "named"; });
}

namespace {
// `count` clients each send `size` bytes of their own pattern through an
// echo server on an engine made with `options`; every byte must come
// back, in order, to the client that sent it.
void echo_many_at_once(const pants::Engine::Options& options, int count, std::size_t size) {
    Engine engine(options);
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    std::vector<std::unique_ptr<Recorder>> clients;
    std::vector<std::string> sent;
    for (int i = 0; i < count; ++i) {
        clients.push_back(std::make_unique<Recorder>(engine));
        clients.back()->connect(*server.local_address());
        sent.push_back(pattern(size, unsigned(i + 10)));
        clients.back()->write(sent.back());
    }
    run_until(engine, [&] {
        for (std::size_t i = 0; i < clients.size(); ++i)
            if (clients[i]->got.size() < sent[i].size()) return false;
        return true;
    });
    for (std::size_t i = 0; i < clients.size(); ++i) CHECK(clients[i]->got == sent[i]);
}
}  // namespace

TEST_CASE("receive buffers running out (ENOBUFS) loses no data") {
    // Four 1 KiB provided buffers shared by 20 busy connections: the kernel
    // runs dry all the time and every receive must be re-armed.
    pants::Engine::Options options;
    options.buffer_count = 4;
    options.buffer_size = 1024;
    echo_many_at_once(options, 20, 200'000);
}

TEST_CASE("receive buffers handed to the kernel as needed lose and mix no data") {
    // The io_uring backend gives the kernel a few of its 512 buffers at
    // first and more each time receives run dry: 150 busy connections make
    // it grow to all of them. Every byte comes back, in order, to the
    // connection that sent it (a buffer handed over twice would mix them).
    pants::Engine::Options options;
    options.buffer_size = 1024;
    echo_many_at_once(options, 150, 40'000);
}

TEST_CASE("Server::close closes the listener and every connection") {
    Engine engine;
    struct Closing : pants::Server<Echo> {
        using pants::Server<Echo>::Server;
        int closes = 0;
        void on_close() override { ++closes; }
    };
    Closing server(engine);
    REQUIRE(server.listen(loopback()));
    auto addr = *server.local_address();
    Recorder a(engine), b(engine);
    a.connect(addr);
    b.connect(addr);
    run_until(engine, [&] { return server.connections().size() == 2; });
    server.close();
    CHECK_FALSE(server.listening());
    CHECK(server.closes == 0);  // never inside close()
    run_until(engine, [&] { return server.closes == 1 && a.closes == 1 && b.closes == 1; });
    CHECK(server.closes == 1);
    Recorder late(engine);
    late.connect(addr);
    run_until(engine, [&] { return late.closes == 1; });
    CHECK(late.error == std::errc::connection_refused);
}

TEST_CASE("echo over a Linux abstract Unix socket") {
    Engine engine;
    auto address = *pants::Address::unix_path("@pants-test-" + std::to_string(::getpid()));
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(address));
    Recorder client(engine);
    client.connect(address);
    client.write("abstract");
    run_until(engine, [&] { return client.got.size() == 8; });
    CHECK(client.got == "abstract");
}

namespace {
struct OnlyOnError : pants::Client {
    using pants::Client::Client;
    std::vector<std::error_code> errors;
    void on_error(std::error_code e) override { errors.push_back(e); }
};
}  // namespace

TEST_CASE("specific error callbacks fall back to on_error") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    auto addr = *server.local_address();
    server.close();
    engine.poll(std::chrono::milliseconds(0));
    OnlyOnError client(engine);
    client.connect(addr);
    run_until(engine, [&] { return client.closed(); });
    REQUIRE(client.errors.size() == 1);
    CHECK(client.errors[0] == std::errc::connection_refused);
}

TEST_CASE("TCP_NODELAY is on by default on both ends, and keep-alive can be set") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    client.write("x");
    run_until(engine, [&] { return client.got == "x"; });
    auto nodelay = [](int fd) {
        int v = 0;
        socklen_t len = sizeof v;
        ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len);
        return v;
    };
    CHECK(nodelay(client.fd()) == 1);
    REQUIRE(server.connections().size() == 1);
    CHECK(nodelay(server.connections()[0]->fd()) == 1);
    REQUIRE(client.set_keepalive(true, std::chrono::seconds(30)));
    int ka = 0, idle = 0;
    socklen_t len = sizeof ka;
    ::getsockopt(client.fd(), SOL_SOCKET, SO_KEEPALIVE, &ka, &len);
    ::getsockopt(client.fd(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, &len);
    CHECK(ka == 1);
    CHECK(idle == 30);
}

namespace {
struct FileSender : pants::Connection {
    static inline std::string path;
    void on_connect() override {
        REQUIRE(write_file(path));
        end();
    }
};
}  // namespace

TEST_CASE("write_file to a reader that falls behind still arrives whole") {
    // io_uring splices through a pipe into a non-blocking socket: a full
    // socket must mean "wait", not an EAGAIN error.
    Engine engine;
    TempDir dir("pants-slow");
    std::string data = pattern(16 << 20, 11);
    FileSender::path = dir.write("big.bin", data);
    pants::Server<FileSender> server(engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    engine.run_until([] { return false; }, std::chrono::milliseconds(100));  // nobody reads yet
    std::string got = read_to_end(engine, peer);
    CHECK(got.size() == data.size());
    CHECK(got == data);
}

TEST_CASE("everything written in one turn leaves in one sendmsg") {
    Engine engine;
    pants::Server<Collect> server(engine);
    Collect::got.clear();
    Collect::events.clear();
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    run_until(engine, [&] { return client.connected() && server.connections().size() == 1; });
    engine.poll(std::chrono::milliseconds(0));
    const auto before = engine.backend().submitted();
    std::string expected;
    for (int i = 0; i < 100; ++i) {
        std::string piece = "piece " + std::to_string(i) + ";";
        client.write(piece);
        expected += piece;
    }
    engine.poll(std::chrono::milliseconds(0));  // the turn's flush
    CHECK(engine.backend().submitted() - before == 1);
    run_until(engine, [&] { return Collect::got.size() == expected.size(); });
    CHECK(Collect::got == expected);
}
