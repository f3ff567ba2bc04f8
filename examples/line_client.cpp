// line_client: connects to a line-based server, sends a few lines and prints
// each line that comes back, one read() per line, from a coroutine.
//
//   build-release/examples/echo &   then   build-release/examples/line_client [host] [port]
#include <pants/pants.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

pants::Task<int> talk(pants::Client& client, std::string host, std::uint16_t port) {
    if (auto r = co_await client.connect(host, port); !r) {
        std::fprintf(stderr, "connect: %s\n", r.error().message().c_str());
        co_return 1;
    }
    client.read_delimiter = "\n";
    for (const char* line : {"hello\n", "from\n", "pants\n"}) {
        co_await client.write(line);
        auto reply = co_await client.read();
        if (!reply) {
            std::fprintf(stderr, "read: %s\n", reply.error().message().c_str());
            co_return 1;
        }
        std::printf("got: %.*s\n", int(reply->size()), reply->data());
    }
    client.end();
    co_return 0;
}

int main(int argc, char** argv) {
    std::string host = argc > 1 ? argv[1] : "127.0.0.1";
    auto port = std::uint16_t(argc > 2 ? std::atoi(argv[2]) : 4000);
    pants::Client client;
    return pants::Engine::instance().run(talk(client, host, port));
}
