// chat: every line a client sends goes to every connected client, as in
// Pants' echo_to_all example. Ctrl-C (or SIGTERM) shuts it down
// gracefully: lines already sent still reach everyone (5 s at most).
//
//   build-release/examples/chat &   then, in two terminals:   telnet localhost 4000
#include <pants/pants.hpp>

#include <csignal>
#include <cstdio>

class Chat : public pants::Connection {
    void on_read(std::string_view data) override {
        for (pants::Stream* peer : server()->connections()) peer->write(data);
    }
};

int main() {
    auto& engine = pants::Engine::instance();
    pants::Server<Chat> server;
    if (auto r = server.listen(4000); !r) {
        std::fprintf(stderr, "listen on port 4000: %s\n", r.error().message().c_str());
        return 1;
    }
    for (int signo : {SIGINT, SIGTERM})
        engine.on_signal(signo, [&] { server.shutdown(std::chrono::seconds(5), [&] { engine.stop(); }); });
    engine.start();
}
