// Datagram: UDP (IPv4, IPv6) and Unix datagram channels, callbacks and
// co_await, on real sockets on loopback.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "skip.hpp"

using namespace std::chrono_literals;
using pants::Address;

namespace {

/// A Datagram that records everything its callbacks see.
struct Recorder : pants::Datagram {
    using pants::Datagram::Datagram;
    std::vector<std::pair<std::string, Address>> reads;
    std::vector<std::error_code> read_errors, write_errors;
    int writes = 0, closes = 0;
    std::function<void(std::string_view, const Address&)> then;

    void on_read(std::string_view data, const Address& from) override {
        reads.emplace_back(std::string(data), from);
        if (then) then(data, from);
    }
    void on_write() override { ++writes; }
    void on_close() override { ++closes; }
    void on_read_error(std::error_code e) override { read_errors.push_back(e); }
    void on_write_error(std::error_code e) override { write_errors.push_back(e); }
};

Address bound(pants::Datagram& d, const Address& where = Address::loopback_v4(0)) {
    REQUIRE(d.listen(where));
    auto a = d.local_address();
    REQUIRE(a);
    return *a;
}

std::string temp_path(const char* name) {
    return "/tmp/pants-test-" + std::to_string(::getpid()) + "-" + name;
}

/// A plain blocking UDP socket on loopback, outside any engine: what it
/// sends is in the receiver's socket buffer before the engine turns.
struct RawSender {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    Address at;
    RawSender() {
        Address any = Address::loopback_v4(0);
        REQUIRE(::bind(fd, any.data(), any.size()) == 0);
        socklen_t len = Address::capacity();
        REQUIRE(::getsockname(fd, at.data(), &len) == 0);
        at.set_size(len);
    }
    ~RawSender() { ::close(fd); }
    void send(std::string_view data, const Address& to) {
        REQUIRE(::sendto(fd, data.data(), data.size(), 0, to.data(), to.size()) == ssize_t(data.size()));
    }
};

}  // namespace

TEST_CASE("a datagram makes a round trip with callbacks") {
    pants::Engine engine;
    Recorder server(engine), client(engine);
    Address at = bound(server);
    server.then = [&](std::string_view data, const Address&) { server.write(std::string("echo:") + std::string(data)); };
    client.write("hello", at);
    REQUIRE(engine.run_until([&] { return client.reads.size() == 1; }, 5s));
    CHECK(client.reads[0].first == "echo:hello");
    CHECK(client.reads[0].second == at);
    REQUIRE(server.reads.size() == 1);
    CHECK(server.reads[0].second.port() == client.local_address()->port());  // unbound: 0.0.0.0:port
    CHECK(engine.run_until([&] { return client.writes == 1 && server.writes == 1; }, 5s));
}

TEST_CASE("a second listen() on a UDP port in use fails instead of taking its datagrams") {
    // With SO_REUSEADDR on both, the second bind succeeded (and port 0
    // could pick a port in use): unicast went to the newer socket only.
    pants::Engine engine;
    Recorder first(engine), second(engine);
    const Address at = bound(first);
    auto r = second.listen(at);
    REQUIRE_FALSE(r);
    CHECK(r.error() == std::errc::address_in_use);
    RawSender sender;
    sender.send("for the first", at);
    REQUIRE(engine.run_until([&] { return first.reads.size() == 1; }, 5s));
    CHECK(first.reads[0].first == "for the first");
    CHECK(second.reads.empty());
}

TEST_CASE("receive and send_to make a round trip in coroutines") {
    pants::Engine engine;
    pants::Datagram server(engine), client(engine);
    Address at = bound(server);
    auto serve = [&]() -> pants::Task<> {
        auto got = co_await server.receive();
        REQUIRE(got);
        std::string reply = "re:" + std::string(got->data);
        auto sent = co_await server.send_to(reply, got->from);
        CHECK(sent);
    };
    auto ask = [&]() -> pants::Task<std::string> {
        auto sent = co_await client.send_to("ping", at);
        CHECK(sent);
        auto got = co_await client.receive();
        REQUIRE(got);
        CHECK(got->from == at);
        co_return std::string(got->data);
    };
    engine.spawn(serve());
    CHECK(engine.run(ask()) == "re:ping");
}

TEST_CASE("many senders to one listener are told apart by their addresses") {
    pants::Engine engine;
    Recorder server(engine);
    Address at = bound(server);
    std::vector<std::unique_ptr<Recorder>> clients;
    for (int i = 0; i < 8; ++i) {
        clients.push_back(std::make_unique<Recorder>(engine));
        clients.back()->write("from " + std::to_string(i), at);
    }
    REQUIRE(engine.run_until([&] { return server.reads.size() == 8; }, 5s));
    std::map<std::string, Address> seen(server.reads.begin(), server.reads.end());
    REQUIRE(seen.size() == 8);
    for (int i = 0; i < 8; ++i) {
        const Address& from = seen.at("from " + std::to_string(i));
        CHECK(from.host() == "127.0.0.1");
        CHECK(from.port() == clients[i]->local_address()->port());  // the client is bound to 0.0.0.0
    }
}

TEST_CASE("write without an address goes to the address used most recently") {
    pants::Engine engine;
    Recorder server(engine), a(engine), b(engine);
    Address at = bound(server);
    Address at_a = bound(a), at_b = bound(b);

    a.write("1", at);
    REQUIRE(engine.run_until([&] { return server.reads.size() == 1; }, 5s));
    server.write("to a");  // the last sender
    REQUIRE(engine.run_until([&] { return a.reads.size() == 1; }, 5s));
    CHECK(a.reads[0].first == "to a");

    server.write("to b", at_b);
    server.write("b again");  // the last destination
    REQUIRE(engine.run_until([&] { return b.reads.size() == 2; }, 5s));
    CHECK(b.reads[1].first == "b again");
    CHECK(*server.remote_address() == at_b);

    a.write("2", at);
    REQUIRE(engine.run_until([&] { return server.reads.size() == 2; }, 5s));
    server.write("a again");  // a sender is more recent than b
    REQUIRE(engine.run_until([&] { return a.reads.size() == 2; }, 5s));
    CHECK(a.reads[1].first == "a again");
    CHECK(a.reads.size() == 2);
    CHECK(b.reads.size() == 2);
    CHECK(*server.remote_address() == at_a);
}

TEST_CASE("write with no address ever given reports EDESTADDRREQ on a later turn") {
    pants::Engine engine;
    Recorder d(engine);
    d.write("lost");
    CHECK(d.write_errors.empty());  // never from inside write()
    REQUIRE(engine.run_until([&] { return d.write_errors.size() == 1; }, 5s));
    CHECK(d.write_errors[0] == std::errc::destination_address_required);
}

TEST_CASE("a datagram larger than buffer_size is reported as truncated, never cut") {
    pants::Engine engine;
    Recorder server(engine), client(engine);
    server.buffer_size = 100;
    Address at = bound(server);
    client.write(std::string(101, 'x'), at);
    client.write(std::string(100, 'y'), at);
    REQUIRE(engine.run_until([&] { return server.reads.size() == 1; }, 5s));
    REQUIRE(server.read_errors.size() == 1);
    CHECK(server.read_errors[0] == std::errc::message_size);
    CHECK(server.reads[0].first == std::string(100, 'y'));
    CHECK_FALSE(server.closing());  // one bad datagram does not end the channel
}

TEST_CASE("a truncated datagram reaches a waiting receive as message_size") {
    pants::Engine engine;
    pants::Datagram server(engine), client(engine);
    server.buffer_size = 10;
    Address at = bound(server);
    client.write("0123456789abc", at);
    client.write("short", at);
    auto run = [&]() -> pants::Task<std::string> {
        auto first = co_await server.receive();
        REQUIRE_FALSE(first);
        CHECK(first.error() == std::errc::message_size);
        auto second = co_await server.receive();
        REQUIRE(second);
        co_return std::string(second->data);
    };
    CHECK(engine.run(run()) == "short");
}

TEST_CASE("a datagram larger than the engine's stream buffers still arrives whole in callback mode") {
    // Streams receive into the engine's buffers (2048 bytes here);
    // datagrams have buffers of their own, large enough for any datagram.
    pants::Engine engine(pants::Engine::Options{.buffer_size = 2048});
    Recorder server(engine);
    Address at = bound(server);  // buffer_size stays 65536
    RawSender client;
    client.send(std::string(4000, 'x'), at);
    client.send(std::string(1905, 'y'), at);
    client.send("ok", at);
    REQUIRE(engine.run_until([&] { return server.reads.size() == 3; }, 5s));
    CHECK(server.read_errors.empty());
    CHECK(server.reads[0].first == std::string(4000, 'x'));
    CHECK(server.reads[1].first == std::string(1905, 'y'));
    CHECK(server.reads[2].first == "ok");
    CHECK(server.reads[2].second == client.at);
    CHECK_FALSE(server.closing());

    // receive() uses the channel's own buffer of buffer_size bytes. (Its
    // socket opens in pull mode: none of the engine's buffers is involved.)
    pants::Datagram puller(engine);
    std::size_t pulled = 0;
    auto run = [&]() -> pants::Task<> {
        auto got = co_await puller.receive();
        REQUIRE(got);
        pulled = got->data.size();
    };
    engine.spawn(run());
    Address pull_at = bound(puller);
    client.send(std::string(4000, 'w'), pull_at);
    REQUIRE(engine.run_until([&] { return pulled != 0; }, 5s));
    CHECK(pulled == 4000);
}

TEST_CASE("an empty datagram reaches on_read and receive as an empty frame") {
    pants::Engine engine;
    Recorder server(engine);
    Address at = bound(server);
    RawSender client;
    client.send("", at);
    client.send("x", at);
    REQUIRE(engine.run_until([&] { return server.reads.size() == 2; }, 5s));
    CHECK(server.reads[0].first.empty());
    CHECK(server.reads[0].second == client.at);
    CHECK(server.reads[1].first == "x");
    CHECK(server.read_errors.empty());

    client.send("", at);
    auto run = [&]() -> pants::Task<std::string> {
        auto got = co_await server.receive();
        REQUIRE(got);
        CHECK(got->from == client.at);
        co_return std::string(got->data);
    };
    CHECK(engine.run(run()) == "");
}

TEST_CASE("switching from on_read to receive mid-datagram loses no datagram and keeps the order") {
    pants::Engine engine;
    Recorder server(engine);
    server.read_delimiter = '\n';
    Address at = bound(server);
    RawSender client;
    // All of them wait in the socket buffer before the first turn, so that
    // the multishot brings several at once: those after the switch must
    // reach receive(), in order, with their sender.
    constexpr int count = 40;
    client.send("a\nb\nc", at);
    for (int i = 0; i < count; ++i) client.send(std::to_string(i), at);
    std::vector<std::string> pulled;
    bool all_from_client = true;
    auto pull = [&]() -> pants::Task<> {
        for (int i = 0; i < count + 2; ++i) {
            auto got = co_await server.receive();  // the first from inside on_read
            REQUIRE(got);
            pulled.emplace_back(got->data);
            all_from_client = all_from_client && got->from == client.at;
            co_await engine.sleep(0ms);  // let more completions arrive between receives
        }
    };
    server.then = [&](std::string_view, const Address&) {
        if (server.reads.size() == 1) engine.spawn(pull());
    };
    REQUIRE(engine.run_until([&] { return pulled.size() == count + 2; }, 5s));
    REQUIRE(server.reads.size() == 1);
    CHECK(server.reads[0].first == "a");
    std::vector<std::string> expected{"b", "c"};
    for (int i = 0; i < count; ++i) expected.push_back(std::to_string(i));
    CHECK(pulled == expected);
    CHECK(all_from_client);
    CHECK(server.read_errors.empty());
}

TEST_CASE("a nested turn inside on_read keeps each sender's datagrams in order, with their senders") {
    pants::Engine engine;
    Recorder server(engine);
    Address at = bound(server);
    RawSender client, other;
    // Twenty wait in the socket buffer, so that the first turn takes
    // several at once; five more, from another sender, come while the
    // first on_read runs nested turns, which must hand out the rest of the
    // first ones (each with its own sender) before these.
    for (int i = 0; i < 20; ++i) client.send(std::to_string(i), at);
    server.then = [&](std::string_view, const Address&) {
        if (server.reads.size() != 1) return;
        for (int i = 20; i < 25; ++i) other.send(std::to_string(i), at);
        for (int turn = 0; turn < 50 && server.reads.size() < 25; ++turn) engine.poll(std::chrono::milliseconds(10));
    };
    REQUIRE(engine.run_until([&] { return server.reads.size() == 25; }, 5s));
    for (int i = 0; i < 25; ++i) {
        CHECK(server.reads[std::size_t(i)].first == std::to_string(i));
        CHECK(server.reads[std::size_t(i)].second == (i < 20 ? client.at : other.at));
    }
}

TEST_CASE("switching to receive, then running nested turns inside on_read, loses no datagram") {
    pants::Engine engine;
    Recorder server(engine);
    Address at = bound(server);
    RawSender client;
    // Taken several at a time; the switch cancels the multishot, and the
    // nested turns deliver that cancel: the datagrams already taken must
    // reach receive() first, in order.
    constexpr int count = 30;
    for (int i = 0; i < count; ++i) client.send(std::to_string(i), at);
    std::vector<std::string> pulled;
    auto pull = [&]() -> pants::Task<> {
        while (pulled.size() < count - 1) {
            auto got = co_await server.receive();
            REQUIRE(got);
            pulled.emplace_back(got->data);
        }
    };
    server.then = [&](std::string_view, const Address&) {
        if (server.reads.size() != 1) return;
        engine.spawn(pull());
        for (int turn = 0; turn < 5; ++turn) engine.poll(std::chrono::milliseconds(1));
    };
    REQUIRE(engine.run_until([&] { return pulled.size() == count - 1; }, 5s));
    REQUIRE(server.reads.size() == 1);
    CHECK(server.reads[0].first == "0");
    for (int i = 1; i < count; ++i) CHECK(pulled[std::size_t(i - 1)] == std::to_string(i));
}

TEST_CASE("callbacks() after receive hands the next datagrams back to on_read in order") {
    pants::Engine engine;
    Recorder server(engine);
    Address at = bound(server);
    RawSender client;
    for (int i = 0; i < 10; ++i) client.send(std::to_string(i), at);
    auto pull = [&]() -> pants::Task<std::string> {
        auto got = co_await server.receive();
        REQUIRE(got);
        std::string first(got->data);
        server.callbacks();
        co_return first;
    };
    CHECK(engine.run(pull()) == "0");
    REQUIRE(engine.run_until([&] { return server.reads.size() == 9; }, 5s));
    for (int i = 1; i < 10; ++i) CHECK(server.reads[i - 1].first == std::to_string(i));
    client.send("later", at);  // the multishot is armed again
    REQUIRE(engine.run_until([&] { return server.reads.size() == 10; }, 5s));
    CHECK(server.reads[9].first == "later");
}

TEST_CASE("a connected socket gets ECONNREFUSED from an ICMP port unreachable") {
    pants::Engine engine;
    Address dead;
    {
        Recorder probe(engine);
        dead = bound(probe);
        probe.close();
        REQUIRE(engine.run_until([&] { return probe.closes == 1; }, 5s));
    }  // nobody listens there any more
    Recorder client(engine);
    REQUIRE(client.connect(dead));
    client.write("anyone?");
    REQUIRE(engine.run_until([&] { return !client.read_errors.empty() || !client.write_errors.empty(); }, 5s));
    auto& errors = client.read_errors.empty() ? client.write_errors : client.read_errors;
    CHECK(errors[0] == std::errc::connection_refused);
    CHECK_FALSE(client.closing());
}

TEST_CASE("datagrams make a round trip over IPv6") {
    pants::Engine engine;
    Recorder server(engine), client(engine);
    if (!server.listen(Address::loopback_v6(0))) PANTS_SKIP("no IPv6 loopback here");
    Address at = *server.local_address();
    server.then = [&](std::string_view data, const Address&) { server.write(data); };
    client.write("six", at);
    REQUIRE(engine.run_until([&] { return client.reads.size() == 1; }, 5s));
    CHECK(client.reads[0].first == "six");
    CHECK(client.reads[0].second == at);
    CHECK(server.reads[0].second.is_ipv6());
}

TEST_CASE("Unix datagrams make a round trip, and an unbound client can be answered") {
    pants::Engine engine;
    std::string path = temp_path("dgram.sock");
    ::unlink(path.c_str());
    Recorder server(engine), client(engine);
    Address at = *Address::unix_path(path);
    REQUIRE(server.listen(at));
    server.then = [&](std::string_view data, const Address&) { server.write("unix:" + std::string(data)); };
    client.write("hi", at);
    REQUIRE(engine.run_until([&] { return client.reads.size() == 1; }, 5s));
    CHECK(client.reads[0].first == "unix:hi");
    CHECK(client.reads[0].second == at);
    ::unlink(path.c_str());
}

TEST_CASE("read_delimiter cuts frames within each datagram, never across them") {
    pants::Engine engine;
    Recorder server(engine), client(engine);
    server.read_delimiter = '\n';
    Address at = bound(server);
    client.write("a\nb\n", at);
    client.write("c\nd", at);  // the datagram's end ends "d"
    client.write("e\n", at);
    REQUIRE(engine.run_until([&] { return server.reads.size() == 5; }, 5s));
    std::vector<std::string> frames;
    for (auto& r : server.reads) frames.push_back(r.first);
    CHECK(frames == std::vector<std::string>{"a", "b", "c", "d", "e"});
}

TEST_CASE("receive gives one frame at a time from a datagram") {
    pants::Engine engine;
    pants::Datagram server(engine), client(engine);
    server.read_delimiter = 2;
    Address at = bound(server);
    client.write("aabbc", at);
    client.write("dd", at);
    auto run = [&]() -> pants::Task<std::vector<std::string>> {
        std::vector<std::string> got;
        for (int i = 0; i < 4; ++i) {
            auto r = co_await server.receive();
            REQUIRE(r);
            got.emplace_back(r->data);
        }
        co_return got;
    };
    CHECK(engine.run(run()) == std::vector<std::string>{"aa", "bb", "c", "dd"});
}

TEST_CASE("100,000 datagrams at a bounded rate arrive, none lost and none reordered") {
    pants::Engine engine;
    constexpr std::uint32_t total = 100000;
    constexpr std::uint32_t window = 64;  // outstanding datagrams, so loopback never drops
    Recorder receiver(engine), sender(engine);
    Address at = bound(receiver);
    std::uint32_t expected = 0, out_of_order = 0;
    receiver.then = [&](std::string_view data, const Address&) {
        std::uint32_t n = std::uint32_t(std::stoul(std::string(data)));
        if (n != expected) ++out_of_order;
        expected = n + 1;
        receiver.write(data);  // the ack
    };
    receiver.reads.reserve(total);
    std::uint32_t sent = 0, acked = 0;
    auto pump = [&] {
        while (sent < total && sent - acked < window) sender.write(std::to_string(sent++), at);
    };
    sender.then = [&](std::string_view, const Address&) {
        ++acked;
        sender.reads.clear();
        pump();
    };
    pump();
    REQUIRE(engine.run_until([&] { return acked == total; }, 120s));
    CHECK(expected == total);
    CHECK(out_of_order == 0);
    CHECK(receiver.reads.size() == total);
}

TEST_CASE("end sends every queued datagram, then closes once") {
    pants::Engine engine;
    Recorder server(engine), client(engine);
    Address at = bound(server);
    for (int i = 0; i < 20; ++i) client.write(std::to_string(i), at);
    client.end();
    REQUIRE(engine.run_until([&] { return server.reads.size() == 20 && client.closes == 1; }, 5s));
    for (int i = 0; i < 20; ++i) CHECK(server.reads[i].first == std::to_string(i));
    engine.poll(0ms);
    CHECK(client.closes == 1);
    CHECK(client.closed());
}

TEST_CASE("close with a receive in flight fires on_close once, on a later turn") {
    pants::Engine engine;
    Recorder d(engine);
    bound(d);
    engine.poll(0ms);
    d.close();
    d.close();
    CHECK(d.closes == 0);
    REQUIRE(engine.run_until([&] { return d.closes == 1; }, 5s));
    engine.poll(0ms);
    CHECK(d.closes == 1);
    CHECK(engine.backend().in_flight() == 0);
}

TEST_CASE("destroying a datagram with operations in flight is safe") {
    pants::Engine engine;
    Address at;
    {
        Recorder server(engine);
        at = bound(server);
        auto client = std::make_unique<Recorder>(engine);
        for (int i = 0; i < 10; ++i) client->write(std::string(1000, 'z'), at);
        engine.poll(0ms);
        client.reset();
        engine.poll(0ms);
    }
    CHECK(engine.run_until([&] { return engine.backend().in_flight() == 0; }, 5s));
}

TEST_CASE("a waiting receive resumes with closed when the channel closes") {
    pants::Engine engine;
    pants::Datagram d(engine);
    bound(d);
    engine.callback([&] { d.close(); });
    auto run = [&]() -> pants::Task<std::error_code> {
        auto r = co_await d.receive();
        co_return r ? std::error_code() : r.error();
    };
    CHECK(engine.run(run()) == pants::NetError::closed);
}

TEST_CASE("a receive cut short by a timeout leaves the next datagram for the next receive") {
    pants::Engine engine;
    pants::Datagram server(engine), client(engine);
    Address at = bound(server);
    auto once = [&]() -> pants::Task<pants::Result<std::string>> {
        auto r = co_await server.receive();
        if (!r) co_return pants::unexpected(r.error());
        co_return std::string(r->data);
    };
    auto timed_out = engine.run(pants::with_timeout(engine, 10ms, once()));
    CHECK_FALSE(timed_out);
    client.write("later", at);
    auto got = engine.run(pants::with_timeout(engine, 5s, once()));
    REQUIRE(got);
    CHECK(*got == "later");
}

TEST_CASE("sendto sends one datagram without a channel") {
    pants::Engine engine;
    Recorder server(engine);
    Address at = bound(server);
    REQUIRE(pants::sendto("one-off", at));
    REQUIRE(engine.run_until([&] { return server.reads.size() == 1; }, 5s));
    CHECK(server.reads[0].first == "one-off");
}

TEST_CASE("set_broadcast sets SO_BROADCAST, now or when the socket opens") {
    pants::Engine engine;
    pants::Datagram d(engine);
    REQUIRE(d.set_broadcast(true));
    bound(d);
    int on = 0;
    socklen_t len = sizeof on;
    REQUIRE(::getsockopt(d.fd(), SOL_SOCKET, SO_BROADCAST, &on, &len) == 0);
    CHECK(on == 1);
    REQUIRE(d.set_broadcast(false));
    REQUIRE(::getsockopt(d.fd(), SOL_SOCKET, SO_BROADCAST, &on, &len) == 0);
    CHECK(on == 0);
}

TEST_CASE("an on_read that throws costs its engine no receive buffer (regression)") {
    // The engine's provided buffers are shared by all its channels: a buffer
    // kept by a throwing callback would starve every other channel.
    pants::Engine::Options options;
    options.buffer_count = 8;
    pants::Engine engine(options);
    int errors = 0;
    engine.set_error_handler([&](std::exception_ptr) { ++errors; });
    Recorder thrower(engine), good(engine);
    thrower.then = [](std::string_view, const Address&) { throw std::runtime_error("user bug"); };
    Address bad_at = bound(thrower), good_at = bound(good);
    RawSender sender;
    for (int i = 0; i < 20; ++i) sender.send("boom", bad_at);
    REQUIRE(engine.run_until([&] { return errors == 20; }, std::chrono::seconds(10)));
    for (int i = 0; i < 20; ++i) sender.send("fine " + std::to_string(i), good_at);
    REQUIRE(engine.run_until([&] { return good.reads.size() == 20; }, std::chrono::seconds(10)));
    CHECK(good.reads.back().first == "fine 19");
}

TEST_CASE("a receive() cancelled after its Datagram was destroyed is safe (regression)") {
    // when_any: one branch waits in receive(), the other destroys the
    // Datagram and wins; cancelling the loser must not touch the Datagram.
    pants::Engine engine;
    auto d = std::make_unique<pants::Datagram>(engine);
    REQUIRE(d->listen(Address::loopback_v4(0)));
    std::error_code seen;
    auto reader = [&]() -> pants::Task<int> {
        auto r = co_await d->receive();
        if (!r) seen = r.error();
        co_return 0;
    };
    auto killer = [&]() -> pants::Task<int> {
        d.reset();
        co_return 1;
    };
    auto body = [&]() -> pants::Task<std::size_t> {
        auto [index, value] = co_await pants::when_any(reader(), killer());
        (void)value;
        co_return index;
    };
    CHECK(engine.run(body()) == 1);
    CHECK(seen);  // the reader ended with an error (cancelled or closed), not data
}
