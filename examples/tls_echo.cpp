// tls_echo: the echo server over TLS, callback style.
//
// Make a throwaway certificate for localhost, start the server, talk to it:
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
//       -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost
//       -addext subjectAltName=DNS:localhost,IP:127.0.0.1     (one line)
//   build-release/examples/tls_echo cert.pem key.pem &
//   openssl s_client -connect localhost:4433 -CAfile cert.pem -quiet
//   build-release/examples/tls_line_client localhost 4433 cert.pem
#include <pants/pants.hpp>

#include <cstdio>

class Echo : public pants::Connection {
    void on_read(std::string_view data) override { write(data); }
    // A failed handshake (a plain-text client, a bad certificate...).
    void on_tls_error(std::error_code error) override { std::printf("tls: %s\n", error.message().c_str()); }
};

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: tls_echo CERT.pem KEY.pem [port]\n");
        return 2;
    }
    auto ctx = pants::tls::Context::server();
    if (!ctx) return 1;
    if (auto r = ctx->use_certificate_chain_file(argv[1]); !r) {
        std::fprintf(stderr, "%s: %s\n", argv[1], r.error().message().c_str());
        return 1;
    }
    if (auto r = ctx->use_private_key_file(argv[2]); !r) {
        std::fprintf(stderr, "%s: %s\n", argv[2], r.error().message().c_str());
        return 1;
    }
    pants::Server<Echo> server;
    server.set_tls(*ctx);
    if (!server.listen(std::uint16_t(argc > 3 ? std::atoi(argv[3]) : 4433))) return 1;
    pants::Engine::instance().start();
}
