// tls_line_client: the line client over TLS, from a coroutine. It checks
// the server's certificate against CA.pem ("-" or none: the system's CA store) and
// the host name, then sends each LINE and prints what comes back for it.
//
//   build-release/examples/tls_echo cert.pem key.pem &   (see tls_echo.cpp)
//   build-release/examples/tls_line_client localhost 4433 cert.pem hello world
#include <pants/pants.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

pants::Task<int> talk(pants::Client& client, std::string host, std::uint16_t port, pants::tls::Context ctx,
                      std::vector<std::string> lines) {
    // connect() resumes once the handshake is done and the certificate checked.
    if (auto r = co_await client.connect(host, port, ctx); !r) {
        std::fprintf(stderr, "connect: %s\n", r.error().message().c_str());
        co_return 1;
    }
    std::printf("%s, resumed: %s\n", std::string(client.tls()->version()).c_str(),
                client.tls()->resumed() ? "yes" : "no");
    for (const std::string& line : lines) {
        co_await client.write(line + "\n");
        auto echoed = co_await client.read_until("\n");
        if (!echoed) {
            std::fprintf(stderr, "read: %s\n", echoed.error().message().c_str());
            co_return 1;
        }
        std::printf("%s -> %s\n", line.c_str(), std::string(*echoed).c_str());
    }
    client.end();  // close_notify, then close
    co_return 0;
}

int main(int argc, char** argv) {
    std::string host = argc > 1 ? argv[1] : "localhost";
    auto port = std::uint16_t(argc > 2 ? std::atoi(argv[2]) : 4433);
    auto ctx = pants::tls::Context::client();
    if (!ctx) return 1;
    if (argc > 3 && std::string(argv[3]) != "-") {  // "-": the system's CAs
        if (auto r = ctx->load_ca_file(argv[3]); !r) {
            std::fprintf(stderr, "%s: %s\n", argv[3], r.error().message().c_str());
            return 1;
        }
    }
    std::vector<std::string> lines(argv + std::min(argc, 4), argv + argc);
    if (lines.empty()) lines = {"hello", "over", "tls"};
    pants::Client client;
    return pants::Engine::instance().run(talk(client, host, port, *ctx, lines));
}
