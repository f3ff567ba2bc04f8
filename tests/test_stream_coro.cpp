// Streams from coroutines: read/write adapters, backpressure, hand-over,
// cancellation, Server(handler) and Server::accept.
#include "net_helpers.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

using namespace test;
using pants::Engine;

namespace {

pants::Task<> echo(pants::Stream& s) {
    while (auto data = co_await s.read()) co_await s.write(*data);
}

}  // namespace

TEST_CASE("a coroutine echo server echoes and ends the stream when the handler returns") {
    Engine engine;
    pants::Server server(echo, engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    std::string data = pattern(500'000);
    client.write(data);
    run_until(engine, [&] { return client.got.size() == data.size(); });
    CHECK(client.got == data);
    client.end();
    run_until(engine, [&] { return client.closes == 1 && server.connections().empty(); });
}

TEST_CASE("read_exactly and read_until take their own framing from the same buffer") {
    Engine engine;
    std::vector<std::string> seen;
    auto handler = [&](pants::Stream& s) -> pants::Task<> {
        auto head = co_await s.read_until("\r\n");
        REQUIRE(head);
        seen.emplace_back(*head);
        auto body = co_await s.read_exactly(5);
        REQUIRE(body);
        seen.emplace_back(*body);
        s.read_delimiter = ";";
        for (;;) {
            auto item = co_await s.read();
            if (!item) {
                seen.push_back(item.error() == pants::NetError::end_of_stream ? "end" : item.error().message());
                break;
            }
            seen.emplace_back(*item);
        }
    };
    pants::Server server(handler, engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    client.write("HEAD\r\n12345a;b;c;");
    client.end();
    run_until(engine, [&] { return seen.size() == 6; });
    CHECK(seen == std::vector<std::string>{"HEAD", "12345", "a", "b", "c", "end"});
}

TEST_CASE("a read_until and a read_exactly that wait keep their delimiter while the bytes come in pieces") {
    // Each awaiter holds its own delimiter and search position (not the
    // stream): both must survive the suspensions between the pieces.
    Engine engine;
    std::vector<std::string> seen;
    bool started = false;
    auto handler = [&](pants::Stream& s) -> pants::Task<> {
        started = true;
        auto line = co_await s.read_until("\r\n");
        seen.push_back(line ? std::string(*line) : line.error().message());
        auto body = co_await s.read_exactly(6);
        seen.push_back(body ? std::string(*body) : body.error().message());
    };
    pants::Server server(handler, engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    run_until(engine, [&] { return started; });
    for (std::string_view piece : {"ab", "c\r", "\nxy", "zw", "v", "u"}) {
        peer.send(piece);
        for (int i = 0; i < 3; ++i) engine.poll(std::chrono::milliseconds(5));
    }
    run_until(engine, [&] { return seen.size() == 2; });
    CHECK(seen == std::vector<std::string>{"abc", "xyzwvu"});
}

TEST_CASE("a stream read by on_read can be handed to a coroutine and back") {
    Engine engine;
    std::vector<std::string> log;
    struct Handover : pants::Connection {
        std::vector<std::string>* log = nullptr;
        pants::Task<> body() {
            auto a = co_await read();
            REQUIRE(a);
            log->push_back("coro:" + std::string(*a));
            auto b = co_await read();
            REQUIRE(b);
            log->push_back("coro:" + std::string(*b));
            callbacks();  // the rest goes to on_read again
        }
        void on_read(std::string_view d) override {
            log->push_back("cb:" + std::string(d));
            if (d == "HEADER") engine().spawn(body());
        }
    };
    struct Server : pants::Server<Handover> {
        using pants::Server<Handover>::Server;
        std::vector<std::string>* log = nullptr;
        void on_accept(pants::Stream& s) override {
            auto& h = static_cast<Handover&>(s);
            h.log = log;
            h.read_delimiter = "\n";
        }
    };
    Server server(engine);
    server.log = &log;
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    client.write("HEADER\none\ntwo\nthree\nfour\n");
    run_until(engine, [&] { return log.size() == 5; });
    CHECK(log == std::vector<std::string>{"cb:HEADER", "coro:one", "coro:two", "cb:three", "cb:four"});
}

TEST_CASE("a read cancelled by a timeout loses no data") {
    Engine engine;
    pants::Server<pants::Connection> server(engine);
    REQUIRE(server.listen(loopback()));
    pants::Client client(engine);
    std::vector<std::string> results;
    auto reader = [&]() -> pants::Task<> {
        REQUIRE(co_await client.connect(*server.local_address()));
        auto read_once = [&]() -> pants::Task<pants::Result<std::string>> {
            auto r = co_await client.read();
            if (!r) co_return pants::unexpected(r.error());
            co_return std::string(*r);
        };
        auto first = co_await pants::with_timeout(engine, std::chrono::milliseconds(20), read_once());
        results.push_back(first ? *first : first.error() == std::errc::timed_out ? "timeout" : first.error().message());
        for (pants::Stream* c : server.connections()) c->write("late data");
        auto second = co_await pants::with_timeout(engine, std::chrono::seconds(10), read_once());
        results.push_back(second ? *second : second.error().message());
    };
    auto task = reader();
    engine.run(std::move(task));
    CHECK(results == std::vector<std::string>{"timeout", "late data"});
}

TEST_CASE("a slow coroutine reader gets 1 GiB with bounded memory on both sides") {
    Engine engine;
    constexpr std::size_t kTotal = std::size_t(1) << 30;
    std::size_t received = 0, max_queued = 0;
    bool mismatch = false;
    auto sink = [&](pants::Stream& s) -> pants::Task<> {
        int turns = 0;
        while (auto data = co_await s.read()) {
            for (char c : *data) mismatch |= c != char(received++ & 0x7f);
            if (++turns % 64 == 0) co_await engine.sleep(std::chrono::milliseconds(0));  // slow
        }
    };
    pants::Server server(sink, engine);
    REQUIRE(server.listen(loopback()));
    pants::Client writer(engine);
    writer.high_water = 1 << 20;
    auto produce = [&]() -> pants::Task<> {
        REQUIRE(co_await writer.connect(*server.local_address()));
        std::string block(256 << 10, '\0');
        std::size_t sent = 0;
        while (sent < kTotal) {
            for (auto& c : block) c = char(sent++ & 0x7f);
            auto r = co_await writer.write(block);
            REQUIRE(r);
            max_queued = std::max(max_queued, writer.pending_write_bytes());
        }
        writer.end();
    };
    engine.spawn(produce());
    REQUIRE(engine.run_until([&] { return received == kTotal; }, std::chrono::minutes(5)));
    CHECK_FALSE(mismatch);
    // The writer never queues more than one block past its high-water mark.
    CHECK(max_queued <= writer.high_water + (256 << 10));
}

TEST_CASE("Server::accept hands out streams to a coroutine") {
    Engine engine;
    pants::Server<> server(engine);
    REQUIRE(server.listen(loopback()));
    std::string got;
    auto acceptor = [&]() -> pants::Task<> {
        auto s = co_await server.accept();
        REQUIRE(s);
        auto data = co_await (*s)->read_exactly(4);
        REQUIRE(data);
        got = *data;
        co_await (*s)->write("pong");
        (*s)->end();
        auto closed = co_await (*s)->read();
        CHECK_FALSE(closed);
    };
    Recorder client(engine);
    client.connect(*server.local_address());
    client.write("ping");
    engine.run(acceptor());
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(got == "ping");
    CHECK(client.got == "pong");
}

TEST_CASE("accept under descriptor exhaustion backs off and resumes") {
    Engine engine;
    pants::Server server(echo, engine);
    REQUIRE(server.listen(loopback()));
    auto addr = *server.local_address();
    rlimit saved;
    getrlimit(RLIMIT_NOFILE, &saved);
    rlimit low = saved;
    low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, 256);  // keep the hogging loop short
    setrlimit(RLIMIT_NOFILE, &low);
    // Use up every descriptor but a few, then connect: the kernel queues the
    // connection, accept fails with EMFILE, and the server must not spin.
    std::vector<int> hog;
    int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    for (;;) {
        int fd = ::dup(0);
        if (fd < 0) break;
        hog.push_back(fd);
    }
    REQUIRE(::connect(client, addr.data(), addr.size()) == 0);
    int turns = 0;
    for (auto end = Engine::now() + std::chrono::milliseconds(200); Engine::now() < end; ++turns)
        engine.poll(std::chrono::milliseconds(50));
    CHECK(server.connections().empty());
    CHECK(turns < 100);  // backing off (one retry per 50 ms), not spinning
    for (int fd : hog) ::close(fd);
    setrlimit(RLIMIT_NOFILE, &saved);
    REQUIRE(::write(client, "back", 4) == 4);
    std::string got;
    run_until(engine, [&] {
        char buf[16];
        ssize_t n = ::recv(client, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) got.append(buf, std::size_t(n));
        return got.size() == 4;
    });
    CHECK(got == "back");
    ::close(client);
}

TEST_CASE("a coroutine echo with more than the high-water mark in flight keeps reading (regression)") {
    // The reader pauses receiving while its writes wait under backpressure;
    // if it catches up before the pause's cancel completes, receiving must
    // still resume (it stalled for good on io_uring).
    Engine engine;
    pants::Server server(echo, engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    std::string data = pattern(8 << 20, 3);
    client.write(data);
    run_until(engine, [&] { return client.got.size() == data.size(); });
    CHECK(client.got == data);
}

TEST_CASE("a coroutine reader keeps no large input buffer once a burst is read") {
    // Bytes wait in the stream's input buffer until read() takes them; an
    // idle connection must not keep what a burst made it grow to.
    // Measured with glibc's allocator statistics (an ASan build has its own
    // allocator, where this reads zero and checks nothing more).
    constexpr int kPeers = 16;
    constexpr std::size_t kBurst = 256 << 10;
    Engine engine;
    std::size_t received = 0;
    auto reader = [&](pants::Stream& s) -> pants::Task<> {
        while (auto data = co_await s.read()) received += data->size();
    };
    pants::Server server(reader, engine);
    REQUIRE(server.listen(loopback()));
    std::vector<RawPeer> peers;
    for (int i = 0; i < kPeers; ++i) peers.push_back(RawPeer::connect_to(*server.local_address()));
    run_until(engine, [&] { return server.connections().size() == std::size_t(kPeers); });
    const std::string burst = pattern(kBurst);
    const std::size_t before = ::mallinfo2().uordblks;
    std::vector<std::size_t> sent(kPeers, 0);
    run_until(engine, [&] {
        for (int i = 0; i < kPeers; ++i) {
            if (sent[i] == kBurst) continue;
            ssize_t n = ::send(peers[i].fd, burst.data() + sent[i], kBurst - sent[i], MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) sent[i] += std::size_t(n);
        }
        return received == kPeers * kBurst;
    });
    engine.poll(0ms);
    const long grew = long(::mallinfo2().uordblks) - long(before);
    MESSAGE("heap per connection after the burst: " << grew / kPeers << " bytes");
    CHECK(grew / kPeers < 4096);  // 16 KiB and more each while the buffer was kept
}
