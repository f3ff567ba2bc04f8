// The channel lifecycle (issue 8): one regression test per bug that the
// three copies of the close protocol had, on both backends.
#include <poll.h>
#include <sys/resource.h>

#include <memory>
#include <thread>

#include "datagram_peer.hpp"
#include "net_helpers.hpp"

using namespace test;
using pants::Address;
using pants::Engine;
using pants::NetError;
using pants::Task;

namespace {

struct Echo : pants::Connection {
    void on_read(std::string_view d) override { write(d); }
};

/// A server connection that remembers who left, read inside on_close.
struct Leaver : pants::Connection {
    static inline std::vector<std::string> left;
    void on_close() override {
        auto peer = remote_address();
        auto local = local_address();
        left.push_back((peer ? peer->to_string() : "?") + " -> " + (local ? local->to_string() : "?"));
    }
};

struct UdpSink : pants::Datagram {
    using pants::Datagram::Datagram;
    std::vector<std::string> got;
    void on_read(std::string_view d, const Address&) override { got.emplace_back(d); }
};

struct Big : pants::Connection {
    static inline std::vector<std::size_t> frames;
    static inline int overflows = 0;
    Big() {
        buffer_size = 64;
        read_delimiter = 100000;
    }
    void on_read(std::string_view d) override { frames.push_back(d.size()); }
    void on_overflow_error(std::error_code) override { ++overflows; }
};

}  // namespace

TEST_CASE("a read() cancelled by when_any after its Stream was destroyed is safe") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    auto stream = std::make_unique<pants::Client>(engine);
    bool done = false;
    auto co = [&]() -> Task<> {
        REQUIRE(co_await stream->connect(*server.local_address()));
        auto destroy = [&]() -> Task<int> {
            co_await engine.sleep(std::chrono::milliseconds(1));
            stream.reset();  // the read below still waits on its I/O state
            co_return 1;
        };
        auto read = [&](pants::Stream& s) -> Task<int> {
            auto r = co_await s.read();
            co_return r ? 2 : 3;
        };
        auto winner = co_await pants::when_any(destroy(), read(*stream));
        CHECK(winner.first == 0);
        done = true;
    };
    engine.run(co());
    CHECK(done);
    run_until(engine, [&] { return engine.backend().in_flight() <= 1; });  // the listener's accept
}

TEST_CASE("a coroutine waiting in read() when its Stream is destroyed resumes with closed") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    auto stream = std::make_unique<pants::Client>(engine);
    std::error_code got;
    auto reader = [&]() -> Task<> {
        REQUIRE(co_await stream->connect(*server.local_address()));
        engine.defer(std::chrono::milliseconds(1), [&] { stream.reset(); });
        auto r = co_await stream->read();
        REQUIRE_FALSE(r);
        got = r.error();
    };
    engine.run(reader());
    CHECK(got == NetError::closed);
}

TEST_CASE("a Datagram that is ended and destroyed still sends everything queued") {
    Engine engine;
    UdpSink sink(engine);
    REQUIRE(sink.listen(Address::loopback_v4(0)));
    auto to = *sink.local_address();
    {
        pants::Datagram d(engine);
        d.write("one", to);
        d.write("two", to);
        d.write("three", to);
        d.end();
    }
    run_until(engine, [&] { return sink.got.size() == 3; });
    CHECK(sink.got == std::vector<std::string>{"one", "two", "three"});
}

TEST_CASE("a Datagram ended and destroyed sends its last sendmsgs to one peer after it is gone") {
    // The shape of stress seed 95240494058: datagrams already sent one
    // sendmsg at a time, then two more to the same peer that cannot share
    // a sendmsg (the second is longer: no GSO batch) nor a chain (one
    // destination), end(), and the Datagram destroyed at once. The second
    // sendmsg starts from the first one's completion, with no owner left;
    // on io_uring it leaves with a later io_uring_enter, so the peer has
    // it once the engine has turned until nothing is in flight.
    Engine engine;
    DatagramPeer peer(AF_INET, Address::loopback_v4(0));
    const std::size_t idle = engine.backend().in_flight();
    auto d = std::make_unique<pants::Datagram>(engine);
    REQUIRE(d->listen(Address::loopback_v4(0)));  // a multishot receive to cancel at the end
    std::vector<std::string> sent;
    for (std::size_t size : {907, 1075, 824, 104, 560}) {
        sent.push_back(pattern(size, unsigned(sent.size() + 1)));
        d->write(sent.back(), peer.address);
        run_until(engine, [&] { return d->pending_writes() == 0; });
    }
    for (std::size_t size : {666, 990}) {
        sent.push_back(pattern(size, unsigned(sent.size() + 1)));
        d->write(sent.back(), peer.address);
    }
    d->end();
    d.reset();
    run_until(engine, [&] { return engine.backend().in_flight() == idle; });
    expect_datagrams(peer, sent);
}

TEST_CASE("an accept() waiter resumes on a later turn when the server closes") {
    Engine engine;
    pants::Server<> server(engine);
    REQUIRE(server.listen(loopback()));
    int resumed = 0;
    std::error_code error;
    auto acceptor = [&]() -> Task<> {
        auto s = co_await server.accept();
        ++resumed;
        if (!s) error = s.error();
    };
    engine.spawn(acceptor());
    server.close();
    CHECK(resumed == 0);  // never inside close()
    run_until(engine, [&] { return resumed == 1; });
    CHECK(error == NetError::closed);
}

TEST_CASE("an accept() waiter resumes on a later turn when the server is destroyed") {
    Engine engine;
    auto server = std::make_unique<pants::Server<>>(engine);
    REQUIRE(server->listen(loopback()));
    int resumed = 0;
    std::error_code error;
    auto acceptor = [&]() -> Task<> {
        auto s = co_await server->accept();
        ++resumed;
        if (!s) error = s.error();
    };
    engine.spawn(acceptor());
    server.reset();
    CHECK(resumed == 0);  // never inside ~Server
    run_until(engine, [&] { return resumed == 1; });
    CHECK(error == NetError::closed);
}

TEST_CASE("connect() to an empty address reports on_connect_error and on_close on a later turn") {
    Engine engine;
    Recorder c(engine);
    auto started = c.Stream::connect(Address());
    CHECK(c.events.empty());  // never inside connect()
    run_until(engine, [&] { return c.closes == 1; });
    CHECK(c.events == std::vector<std::string>{"connect_error", "close"});
    CHECK(c.error);
}

TEST_CASE("connect() when socket() fails with EMFILE reports it through the callbacks") {
    Engine engine;
    Recorder c(engine);
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
    // No descriptor left: the lowest free one is at or above the new limit.
    int probe = ::dup(0);
    REQUIRE(probe >= 0);
    ::close(probe);
    rlimit low = old;
    low.rlim_cur = rlim_t(probe);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    c.Stream::connect(Address::loopback_v4(9));
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &old) == 0);
    run_until(engine, [&] { return c.closes == 1; });
    CHECK(c.events == std::vector<std::string>{"connect_error", "close"});
    CHECK(c.error == std::errc::too_many_files_open);
}

TEST_CASE("connect() on a connected stream reports EISCONN and keeps the connection") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder c(engine);
    c.Stream::connect(*server.local_address());
    run_until(engine, [&] { return c.connected(); });
    c.Stream::connect(*server.local_address());
    CHECK(c.events == std::vector<std::string>{"connect"});  // not inside connect()
    run_until(engine, [&] { return c.events.size() == 2; });
    CHECK(c.error == std::errc::already_connected);
    c.write("still here");
    run_until(engine, [&] { return c.got == "still here"; });
    CHECK(c.closes == 0);
}

TEST_CASE("local_address and remote_address still answer inside on_close") {
    Engine engine;
    Leaver::left.clear();
    pants::Server<Leaver> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder c(engine);
    c.Stream::connect(*server.local_address());
    run_until(engine, [&] { return c.connected() && server.connections().size() == 1; });
    std::string expected = c.local_address()->to_string() + " -> " + server.local_address()->to_string();
    c.close();
    run_until(engine, [&] { return Leaver::left.size() == 1; });
    CHECK(Leaver::left[0] == expected);
}

TEST_CASE("a Unix socket's path still answers inside on_close") {
    // A path is longer than any IP address: it is kept apart (SavedAddress).
    Engine engine;
    Leaver::left.clear();
    TempDir dir("lifecycle-unix");
    auto path = *Address::unix_path((dir.path / "a-socket-path-longer-than-any-ip-address").string());
    pants::Server<Leaver> server(engine);
    REQUIRE(server.listen(path));
    Recorder c(engine);
    c.Stream::connect(path);
    run_until(engine, [&] { return c.connected() && server.connections().size() == 1; });
    const std::string expected = c.local_address()->to_string() + " -> " + path.to_string();
    c.close();
    run_until(engine, [&] { return Leaver::left.size() == 1; });
    CHECK(Leaver::left[0] == expected);
    CHECK(Leaver::left[0].find("a-socket-path-longer") != std::string::npos);
}

TEST_CASE("a byte-count read_delimiter larger than buffer_size is the limit") {
    Engine engine;
    pants::Server<Big> server(engine);
    REQUIRE(server.listen(loopback()));
    auto peer = RawPeer::connect_to(*server.local_address());
    std::string data = pattern(200000);
    std::size_t sent = 0;
    run_until(engine, [&] {
        if (sent < data.size()) {
            ssize_t n = ::send(peer.fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) sent += std::size_t(n);
        }
        return Big::frames.size() == 2 || Big::overflows > 0;
    });
    CHECK(Big::overflows == 0);
    CHECK(Big::frames == std::vector<std::size_t>{100000, 100000});
}

TEST_CASE("destroying an Engine before its channels closes them, and destroying them afterwards is safe") {
    auto engine = std::make_unique<Engine>();
    auto server = std::make_unique<pants::Server<Echo>>(*engine);
    REQUIRE(server->listen(loopback()));
    auto client = std::make_unique<Recorder>(*engine);
    client->Stream::connect(*server->local_address());
    auto udp = std::make_unique<UdpSink>(*engine);
    REQUIRE(udp->listen(Address::loopback_v4(0)));
    run_until(*engine, [&] { return client->connected() && server->connections().size() == 1; });
    client->write("queued");
    engine.reset();
    CHECK(client->closes == 1);  // closed by the engine's destruction, not abandoned
    CHECK(client->closing());
    client->write("ignored");  // inert: no engine to queue on
    client.reset();
    udp.reset();
    server.reset();
}

namespace {

/// An event whose set() resumes its waiter inline, inside the caller's
/// call (as some user awaitable might): what a cancel it causes must not do.
struct InlineEvent {
    std::coroutine_handle<> waiter;
    // By pointer: GCC 12 may copy an awaiter named by an lvalue.
    struct Wait {
        InlineEvent* event;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) noexcept { event->waiter = h; }
        void await_resume() const noexcept {}
    };
    Wait wait() noexcept { return Wait{this}; }
    void set() { std::exchange(waiter, nullptr).resume(); }
};

}  // namespace

TEST_CASE("a read() cancelled from inside a user's call resumes on a later turn") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    pants::Client client(engine);
    InlineEvent event;
    bool read_ended = false, event_ended = false;
    std::error_code read_error;
    auto read = [&]() -> Task<int> {
        auto r = co_await client.read();
        read_ended = true;
        if (!r) read_error = r.error();
        co_return 1;
    };
    auto wait_event = [&]() -> Task<int> {
        co_await event.wait();
        event_ended = true;
        co_return 2;
    };
    auto race = [&]() -> Task<> {
        REQUIRE(co_await client.connect(*server.local_address()));
        pants::Timer fire;
        fire = engine.loop([&] {
            if (!event.waiter) return;
            fire.cancel();
            event.set();  // the event wins; when_any cancels the read
            CHECK(event_ended);
            CHECK_FALSE(read_ended);  // never inside this call
        });
        auto winner = co_await pants::when_any(read(), wait_event());
        CHECK(winner.first == 1);
    };
    engine.run(race());
    CHECK(read_ended);
    CHECK(read_error == std::errc::operation_canceled);
}

TEST_CASE("an engine run on another thread can be destroyed on this one") {
    // As with an Asio io_context: run the loop on a worker, join it, and
    // let the engine and its channels go at the end of the scope. On
    // io_uring the ring is bound to the worker (SINGLE_ISSUER); destroying
    // it here must neither throw nor leave a descriptor open.
    const int fds_before = count_fds();
    auto engine = std::make_unique<Engine>();
    auto server = std::make_unique<pants::Server<Echo>>(*engine);
    REQUIRE(server->listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server->local_address());
    peer.send("ping");
    std::string echoed;
    std::thread worker([&] { engine->run_until([&] { return peer.drain(echoed) && echoed == "ping"; }, 20s); });
    worker.join();
    CHECK(echoed == "ping");
    server.reset();  // its connection and listener close here, off the ring's thread
    engine.reset();
    // The ring's teardown lets go of the connection's socket a moment
    // later (the kernel cancels what was in flight): wait for the end.
    pollfd p{peer.fd, POLLIN, 0};
    CHECK(::poll(&p, 1, 10000) == 1);
    std::string rest;
    CHECK_FALSE(peer.drain(rest));  // the server side is closed: end of stream
    CHECK(rest.empty());
    ::close(std::exchange(peer.fd, -1));
    CHECK(count_fds() == fds_before);
}
