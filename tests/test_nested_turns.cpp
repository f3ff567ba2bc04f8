// A handler that runs the loop again (engine.poll() from inside a
// callback, as a synchronous helper does) gets a nested turn: the
// completions it consumes must not be seen again by the outer turn, and
// nothing queued is lost.
#include "net_helpers.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

using namespace test;
using pants::Engine;

namespace {

// Echoes, and runs a nested turn from inside every on_read.
struct NestingEcho : pants::Connection {
    void on_read(std::string_view data) override {
        write(data);
        engine().poll(Engine::Duration::zero());
    }
};

}  // namespace

TEST_CASE("a turn nested in a completion handler does not deliver completions twice") {
    Engine engine;
    pants::Server<NestingEcho> server(engine);
    REQUIRE(server.listen(loopback()));
    const auto address = *server.local_address();
    constexpr int kClients = 8;
    constexpr int kRounds = 40;
    std::vector<std::unique_ptr<Recorder>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<Recorder>(engine));
        clients.back()->connect(address);
    }
    run_until(engine, [&] { return server.connections().size() == kClients; });
    // Every client writes in the same turn, so the server's completions
    // arrive together and each on_read's nested turn takes some of them.
    std::vector<std::string> sent(kClients);
    for (int round = 0; round < kRounds; ++round) {
        for (int i = 0; i < kClients; ++i) {
            std::string message = "c" + std::to_string(i) + "r" + std::to_string(round) + ";";
            clients[i]->write(message);
            sent[i] += message;
        }
        engine.poll(Engine::Duration::zero());
    }
    run_until(engine, [&] {
        for (int i = 0; i < kClients; ++i)
            if (clients[i]->got.size() < sent[i].size()) return false;
        return true;
    });
    // Give a duplicate time to show up: one more round trip on each.
    for (int i = 0; i < kClients; ++i) {
        clients[i]->write("end;");
        sent[i] += "end;";
    }
    run_until(engine, [&] {
        for (int i = 0; i < kClients; ++i)
            if (clients[i]->got.size() < sent[i].size()) return false;
        return true;
    });
    for (int i = 0; i < kClients; ++i) CHECK(clients[i]->got == sent[i]);
    CHECK(engine.backend().buffers_lent() == 0);
}

namespace {

// A datagram with nowhere to send: its flush reports on_send_error, and
// that handler writes (a flush for the nested turn to run) and then runs
// a nested turn from inside the engine's flush list.
struct NestingDatagram : pants::Datagram {
    using pants::Datagram::Datagram;
    int errors = 0;
    std::function<void()> before_nesting;
    void on_send_error(std::error_code, const pants::Address&) override {
        ++errors;
        before_nesting();
        engine().poll(Engine::Duration::zero());
    }
};

struct Echo : pants::Connection {
    void on_read(std::string_view data) override { write(data); }
};

}  // namespace

TEST_CASE("a turn nested in a flush leaves the rest of that turn's flushes queued") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine), other(engine);
    client.connect(*server.local_address());
    other.connect(*server.local_address());
    run_until(engine, [&] { return server.connections().size() == 2 && client.connected() && other.connected(); });
    NestingDatagram datagram(engine);
    datagram.before_nesting = [&] { other.write("x"); };
    for (int round = 0; round < 3; ++round) {
        // Both flush in the same turn, the datagram first; `other` is
        // queued during it, for the nested turn.
        datagram.send("nowhere");
        client.write("after the nested turn " + std::to_string(round) + ";");
        const std::size_t want = client.got.size() + 24;
        run_until(engine, [&] { return client.got.size() >= want && datagram.errors == round + 1; });
    }
    CHECK(client.got == "after the nested turn 0;after the nested turn 1;after the nested turn 2;");
    run_until(engine, [&] { return other.got.size() == 3; });
    CHECK(other.got == "xxx");
}
