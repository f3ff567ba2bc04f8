// A handler that runs the loop again (engine.poll() from inside a
// callback, as a synchronous helper does) gets a nested turn: the
// completions it consumes must not be seen again by the outer turn, and
// nothing queued is lost.
#include "net_helpers.hpp"

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
