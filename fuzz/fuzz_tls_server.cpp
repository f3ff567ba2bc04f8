// libFuzzer target for the server side of a TLS stream (net/tls/): the
// input is what a peer sends, written into one end of a Unix socket pair
// whose other end is a Stream with start_tls(server context). The bytes
// reach TLS the way a network peer's do: the engine's receive (provided
// buffers on io_uring), StreamIo::on_receive, the TLS transform, the wire
// BIO, OpenSSL. The first byte picks how the rest is cut into writes (1 to
// 256 bytes each, or all at once), so records split across receives are
// covered. The peer then closes; the stream must close (an error or a
// truncation) within a bounded number of engine turns, and ASan/UBSan
// watch every step. The seeds are real ClientHellos (TLS 1.3, 1.2, ALPN)
// captured from openssl s_client; the server's certificate is a
// self-signed throwaway made for this target (CN=localhost, 100 years).
// Build and run: fuzz/run.sh SECONDS fuzz_tls_server
#include <pants/stream.hpp>
#include <pants/tls.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace {

constexpr const char* kCertificate = R"(-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUTMQzExVD80AdnHB/Ue18dO7VeEkwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMzE3MjcwOFoYDzIxMjYxMTA5
MTcyNzA4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAStEmFV8u3oKIZg6umAf9mRKZPaQEKBN0XI1m42NC1C8BxrOfAICWSc
3SnRzv1/SlN2cZgonE8gnkZ7JTGY+gm4o2kwZzAdBgNVHQ4EFgQU4Do2aJA+kjAM
xk0pXuq8rLfdk9MwHwYDVR0jBBgwFoAU4Do2aJA+kjAMxk0pXuq8rLfdk9MwDwYD
VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID
SAAwRQIhAJEL6SDGG6HqYSyChBRkmsu6IywP30g5//FvEKrD3GEBAiAwRtlYBg67
//PFJMPbBjiH7ayDqJ6TihghrsDQyAFU5w==
-----END CERTIFICATE-----
)";
constexpr const char* kKey = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBTgsKR/0MPP5z5P4
Spo2Zv+UYBMKjN45nsE/UuvdD+ehRANCAAStEmFV8u3oKIZg6umAf9mRKZPaQEKB
N0XI1m42NC1C8BxrOfAICWSc3SnRzv1/SlN2cZgonE8gnkZ7JTGY+gm4
-----END PRIVATE KEY-----
)";

struct Target {
    pants::Engine engine;
    pants::tls::Context context = make_context();

    static pants::tls::Context make_context() {
        auto ctx = pants::tls::Context::server();
        if (!ctx || !ctx->use_certificate_chain(kCertificate) || !ctx->use_private_key(kKey)) {
            std::fprintf(stderr, "fuzz_tls_server: cannot set up the server context\n");
            std::abort();
        }
        return *ctx;
    }
};

struct Closing : pants::Stream {
    using pants::Stream::Stream;
    bool done = false;
    void on_close() override { done = true; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Target target;
    if (size == 0) return 0;
    const std::size_t piece = data[0] == 0 ? size : std::size_t(data[0]);
    ++data;
    --size;
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
    auto stream = std::make_unique<Closing>(target.engine, fds[0]);
    if (!stream->start_tls(target.context)) std::abort();
    char sink[65536];
    auto drain = [&] {
        while (::read(fds[1], sink, sizeof sink) > 0) {
        }
    };
    for (std::size_t at = 0; at < size; at += piece) {
        const std::size_t n = std::min(piece, size - at);
        if (::write(fds[1], data + at, n) != ssize_t(n)) std::abort();  // max_len keeps it under the socket buffer
        target.engine.poll(std::chrono::milliseconds(0));
        drain();
    }
    ::shutdown(fds[1], SHUT_WR);
    int turns = 0;
    while (!stream->done && ++turns < 10000) {
        target.engine.poll(std::chrono::milliseconds(1));
        drain();
    }
    if (!stream->done) {
        std::fprintf(stderr, "fuzz_tls_server: the stream did not close after the peer did\n");
        std::abort();
    }
    stream.reset();
    ::close(fds[1]);
    // What the closed stream still owns is freed on the next turns.
    for (int i = 0; i < 3; ++i) target.engine.poll(std::chrono::milliseconds(0));
    return 0;
}
