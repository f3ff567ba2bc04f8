// TLS failures (issue 11): each a clear error on that connection only, and
// the server goes on serving the next one.
#include "tls_fixtures.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <openssl/x509_vfy.h>

using namespace test;
using pants::Engine;

namespace {

struct Echo : pants::Connection {
    static inline std::vector<std::error_code> errors;
    static inline int closes = 0;
    static inline int connects = 0;
    static inline std::string got;
    void on_connect() override { ++connects; }
    void on_read(std::string_view d) override {
        got += d;
        write(d);
    }
    void on_error(std::error_code e) override { errors.push_back(e); }
    void on_close() override { ++closes; }
    static void reset() {
        errors.clear();
        closes = connects = 0;
        got.clear();
    }
};

struct Fixture {
    Engine engine;
    Pki pki;
    pants::Server<Echo> server{engine};
    std::uint16_t port = 0;
    Fixture() { Echo::reset(); }
    void serve(const pants::tls::Context& ctx) {
        server.set_tls(ctx);
        REQUIRE(server.listen(loopback()));
        port = server.local_address()->port();
    }
    pants::Address address() const { return pants::Address::loopback_v4(port); }
    /// A good client still gets its echo: the failure stayed on its connection.
    void check_server_goes_on() {
        TlsRecorder good(engine);
        good.connect("localhost", port, pki.client_context());
        good.write("still here");
        run_until(engine, [&] { return good.got == "still here"; });
        good.end();  // with close_notify: no error on the server's side
        run_until(engine, [&] { return good.closes == 1; });
    }
};

/// A client whose verification fails: the error it got.
std::error_code failed_verification(Fixture& f, pants::tls::Context ctx, std::string_view name) {
    TlsRecorder client(f.engine);
    client.connect(name, f.port, ctx);
    client.write("never sent in the clear");
    run_until(f.engine, [&] { return client.closes == 1; });
    CHECK(client.events == std::vector<std::string>{"tls_error", "close"});  // no on_connect
    // The server learns of it from the client's alert.
    run_until(f.engine, [&] { return Echo::closes == 1; });
    CHECK(Echo::connects == 0);
    CHECK(Echo::got.empty());
    REQUIRE(Echo::errors.size() == 1);
    MESSAGE("client: " << client.error.message() << "; server: " << Echo::errors[0].message());
    return client.error;
}

}  // namespace

TEST_CASE("a server certificate from an unknown CA fails verification") {
    Fixture f;
    f.serve(f.pki.server_context(&f.pki.other_server));
    auto ec = failed_verification(f, f.pki.client_context(), "localhost");
    CHECK(ec.category() == pants::tls::category());
    CHECK(pants::tls::verify_result(ec) == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    CHECK(ec.message().find("unable to get local issuer certificate") != std::string::npos);
}

TEST_CASE("a client without CAs of its own trusts only the system store") {
    Fixture f;
    f.serve(f.pki.server_context());
    auto ctx = pants::tls::Context::client();
    REQUIRE(ctx);
    auto ec = failed_verification(f, *ctx, "localhost");
    CHECK(pants::tls::verify_result(ec) == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    f.check_server_goes_on();
}

TEST_CASE("a certificate for another host name fails verification") {
    Fixture f;
    f.serve(f.pki.server_context());
    // The certificate names localhost and 127.0.0.1; ask for another name
    // on the same address.
    TlsRecorder client(f.engine);
    REQUIRE(client.start_tls(f.pki.client_context(), "www.example.org"));
    client.connect(f.address());
    run_until(f.engine, [&] { return client.closes == 1; });
    CHECK(pants::tls::verify_result(client.error) == X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(client.events == std::vector<std::string>{"tls_error", "close"});
    f.check_server_goes_on();
}

TEST_CASE("an expired certificate fails verification") {
    Fixture f;
    f.serve(f.pki.server_context(&f.pki.expired));
    auto ec = failed_verification(f, f.pki.client_context(), "localhost");
    CHECK(pants::tls::verify_result(ec) == X509_V_ERR_CERT_HAS_EXPIRED);
    CHECK(ec.message() == "certificate verify failed: certificate has expired");
}

TEST_CASE("a server that requires a client certificate refuses a client without one") {
    Fixture f;
    auto ctx = f.pki.server_context();
    ctx.set_verify_peer(true);
    REQUIRE(ctx.load_ca_file(f.pki.ca.cert_file));
    f.serve(ctx);
    TlsRecorder client(f.engine);
    client.connect("localhost", f.port, f.pki.client_context());
    run_until(f.engine, [&] { return client.closes == 1 && Echo::closes == 1; });
    REQUIRE(Echo::errors.size() == 1);
    CHECK(Echo::errors[0].message() == "peer did not return a certificate");
    CHECK(Echo::connects == 0);
    // TLS 1.3: the client finished first; the server's alert ends it.
    CHECK(client.error.message() == "tlsv13 alert certificate required");

    // With its certificate the same client is let in.
    auto with_cert = f.pki.client_context();
    REQUIRE(with_cert.use_certificate_chain(f.pki.client.cert_pem));
    REQUIRE(with_cert.use_private_key(f.pki.client.key_pem));
    TlsRecorder good(f.engine);
    good.connect("localhost", f.port, with_cert);
    good.write("let in");
    run_until(f.engine, [&] { return good.got == "let in"; });
    CHECK(Echo::connects == 1);
}

TEST_CASE("plain HTTP sent to a TLS port is a clear error") {
    Fixture f;
    f.serve(f.pki.server_context());
    RawPeer peer = RawPeer::connect_to(f.address());
    peer.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    run_until(f.engine, [&] { return Echo::closes == 1; });
    REQUIRE(Echo::errors.size() == 1);
    CHECK(Echo::errors[0].category() == pants::tls::category());
    CHECK(Echo::errors[0].message() == "http request");
    f.check_server_goes_on();
}

TEST_CASE("a truncated handshake is reported as truncation") {
    Fixture f;
    f.serve(f.pki.server_context());
    RawPeer peer = RawPeer::connect_to(f.address());
    // RFC 8446 5.1: a handshake record header that promises 512 bytes.
    peer.send(std::string_view("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));
    ::shutdown(peer.fd, SHUT_WR);
    run_until(f.engine, [&] { return Echo::closes == 1; });
    REQUIRE(Echo::errors.size() == 1);
    CHECK(Echo::errors[0] == pants::tls::Error::truncated);
    f.check_server_goes_on();
}

TEST_CASE("garbage records after the handshake are a clear error") {
    Fixture f;
    f.serve(f.pki.server_context());
    TlsRecorder client(f.engine);
    client.connect("localhost", f.port, f.pki.client_context());
    client.write("ok");
    run_until(f.engine, [&] { return client.got == "ok"; });
    // An application data record whose bytes no key made.
    std::string garbage("\x17\x03\x03\x00\x40", 5);
    garbage += pattern(64);
    REQUIRE(::send(client.fd(), garbage.data(), garbage.size(), MSG_NOSIGNAL) == ssize_t(garbage.size()));
    run_until(f.engine, [&] { return Echo::closes == 1 && client.closes == 1; });
    REQUIRE(Echo::errors.size() == 1);
    CHECK(Echo::errors[0].message() == "decryption failed or bad record mac");
    CHECK(client.error.message() == "sslv3 alert bad record mac");  // the server's alert reached it
    f.check_server_goes_on();
}

TEST_CASE("a peer that stalls in the handshake times out, alone") {
    Fixture f;
    auto ctx = f.pki.server_context();
    ctx.set_handshake_timeout(std::chrono::milliseconds(200));
    f.serve(ctx);
    RawPeer stalled = RawPeer::connect_to(f.address());  // says nothing
    f.check_server_goes_on();  // meanwhile another connection is served
    run_until(f.engine, [&] { return Echo::closes == 2; });
    REQUIRE(Echo::errors.size() == 1);
    CHECK(Echo::errors[0] == pants::tls::Error::handshake_timeout);
    CHECK(Echo::errors[0].message() == "TLS handshake timed out");
    CHECK(read_to_end(f.engine, stalled).empty());  // closed without a word
}

TEST_CASE("a reset in the middle of a record is a read error") {
    Fixture f;
    f.serve(f.pki.server_context());
    TlsRecorder client(f.engine);
    client.connect("localhost", f.port, f.pki.client_context());
    client.write("ok");
    run_until(f.engine, [&] { return client.got == "ok"; });
    std::string half("\x17\x03\x03\x40\x00", 5);  // a 16 KiB record, 100 bytes of it
    half += pattern(100);
    REQUIRE(::send(client.fd(), half.data(), half.size(), MSG_NOSIGNAL) == ssize_t(half.size()));
    linger lg{1, 0};
    ::setsockopt(client.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    client.close();  // RST
    run_until(f.engine, [&] { return Echo::closes == 1; });
    REQUIRE(Echo::errors.size() == 1);
    CHECK(Echo::errors[0] == std::errc::connection_reset);
    CHECK(Echo::got == "ok");
}

TEST_CASE("a close without close_notify is truncation; with it, a clean end") {
    Engine engine;
    Pki pki;
    std::vector<std::string> outcomes;
    int reads = 0;
    auto server_ctx = pki.server_context();
    pants::Server server(
        [&](pants::Stream& s) -> pants::Task<> {
            for (;;) {
                auto r = co_await s.read();
                if (r) {
                    ++reads;
                    continue;
                }
                outcomes.push_back(r.error() == pants::NetError::end_of_stream ? "end"
                                   : r.error() == pants::tls::Error::truncated ? "truncated"
                                                                               : r.error().message());
                break;
            }
        },
        engine);
    server.set_tls(server_ctx);
    REQUIRE(server.listen(loopback()));
    const auto port = server.local_address()->port();
    auto ctx = pki.client_context();
    for (bool clean : {true, false}) {
        CAPTURE(clean);
        TlsRecorder client(engine);
        client.connect("localhost", port, ctx);
        client.write("data");
        // The server has it all (its handshake finished after ours).
        run_until(engine, [&] { return reads == (clean ? 1 : 2); });
        if (clean) {
            client.end();
        } else {
            ::shutdown(client.fd(), SHUT_WR);  // a FIN without close_notify
        }
        run_until(engine, [&] { return outcomes.size() == (clean ? 1u : 2u); });
        client.close();
        run_until(engine, [&] { return client.closes == 1; });
    }
    CHECK(outcomes == std::vector<std::string>{"end", "truncated"});
}
