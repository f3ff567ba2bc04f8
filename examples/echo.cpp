// echo: the classic Pants echo server, callback style.
//
// Every byte a client sends comes back. Ctrl-C (or SIGTERM) shuts it down
// gracefully: it stops accepting, sends what it still owes each client,
// and exits (after 5 s at most). Try it:
//   build-release/examples/echo &   then   telnet localhost 4000
#include <pants/pants.hpp>

#include <csignal>

class Echo : public pants::Connection {
    void on_read(std::string_view data) override { write(data); }
};

int main() {
    auto& engine = pants::Engine::instance();
    pants::Server<Echo> server;
    server.listen(4000);
    for (int signo : {SIGINT, SIGTERM})
        engine.on_signal(signo, [&] { server.shutdown(std::chrono::seconds(5), [&] { engine.stop(); }); });
    engine.start();
}
