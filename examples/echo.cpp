// echo: the classic Pants echo server, callback style.
//
// Every byte a client sends comes back. Try it:
//   build-release/examples/echo &   then   telnet localhost 4000
#include <pants/pants.hpp>

class Echo : public pants::Connection {
    void on_read(std::string_view data) override { write(data); }
};

int main() {
    pants::Server<Echo> server;
    server.listen(4000);
    pants::Engine::instance().start();
}
