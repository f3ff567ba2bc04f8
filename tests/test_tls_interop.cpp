// TLS against the openssl command-line tool as the peer (issue 11):
// `openssl s_server` for our client and `openssl s_client` for our server,
// TLS 1.3 and 1.2, with session resumption observed both ways. Each peer
// is a child process on 127.0.0.1, killed when its test ends.
#include "tls_fixtures.hpp"

using namespace test;
using pants::Engine;

namespace {

struct Echo : pants::Connection {
    static inline int closes = 0;
    static inline std::vector<std::error_code> errors;
    void on_read(std::string_view d) override { write(d); }
    void on_error(std::error_code e) override { errors.push_back(e); }
    void on_close() override { ++closes; }
};

/// `openssl s_server` on a port of its choosing; the port it printed.
struct OpensslServer {
    Child child;
    std::uint16_t port = 0;
    OpensslServer(Engine& engine, const Pki& pki, std::vector<std::string> extra = {})
        : child([&] {
              std::vector<std::string> args{"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
                                            pki.server.cert_file, "-key", pki.server.key_file};
              args.insert(args.end(), extra.begin(), extra.end());
              return args;
          }()) {
        child.wait_for(engine, "ACCEPT 127.0.0.1:");
        auto at = child.output.find("ACCEPT 127.0.0.1:") + 17;
        run_until(engine, [&] {
            child.drain();
            return child.output.find('\n', at) != std::string::npos;
        });
        port = std::uint16_t(std::stoi(child.output.substr(at)));
        REQUIRE(port != 0);
    }
};

/// `openssl s_client` to our server, verifying it as localhost.
Child openssl_client(const Pki& pki, std::uint16_t port, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                                  "-CAfile", pki.ca.cert_file, "-servername", "localhost", "-verify_hostname",
                                  "localhost", "-verify_return_error", "-nocommands"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Child(args);
}

std::size_t count(const std::string& text, std::string_view what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("our client talks to openssl s_server, both ways, and ends with close_notify") {
    Engine engine;
    Pki pki;
    OpensslServer peer(engine, pki);
    TlsRecorder client(engine);
    client.read_delimiter = "\n";
    client.connect("localhost", peer.port, pki.client_context());
    client.write("ping from pants\n");
    peer.child.wait_for(engine, "ping from pants\n");  // s_server prints what it receives
    peer.child.send("pong from openssl\n");               // and sends its stdin
    run_until(engine, [&] { return client.frames.size() == 1; });
    CHECK(client.frames[0] == "pong from openssl");
    CHECK(client.events == std::vector<std::string>{"handshake", "connect"});
    CHECK(client.tls()->version() == "TLSv1.3");
    client.end();
    peer.child.wait_for(engine, "DONE");  // s_server saw our close_notify
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(!client.error);
}

TEST_CASE("our client resumes its session with openssl s_server (TLS 1.3 and 1.2)") {
    for (const char* version : {"-tls1_3", "-tls1_2"}) {
        CAPTURE(version);
        Engine engine;
        Pki pki;
        OpensslServer peer(engine, pki, {version});
        auto ctx = pki.client_context();
        std::vector<bool> resumed;
        for (int i = 0; i < 2; ++i) {
            TlsRecorder client(engine);
            client.read_delimiter = "\n";
            client.connect("localhost", peer.port, ctx);
            std::string line = "hello " + std::to_string(i) + "\n";
            client.write(line);
            peer.child.wait_for(engine, line);
            peer.child.send("back\n");
            run_until(engine, [&] { return client.frames.size() == 1; });
            resumed.push_back(client.tls()->resumed());
            client.end();
            run_until(engine, [&] { return client.closes == 1; });
        }
        CHECK(resumed == std::vector<bool>{false, true});
    }
}

TEST_CASE("openssl s_client talks to our server, verifies it, and ends cleanly") {
    for (const char* version : {"-tls1_3", "-tls1_2"}) {
        CAPTURE(version);
        Engine engine;
        Pki pki;
        Echo::closes = 0;
        Echo::errors.clear();
        pants::Server<Echo> server(engine);
        server.set_tls(pki.server_context());
        REQUIRE(server.listen(loopback()));
        Child client = openssl_client(pki, server.local_address()->port(), {version});
        client.send("hello from s_client\n");
        client.wait_for(engine, "hello from s_client\n");
        // The handshake succeeded and verified our certificate chain.
        CHECK(client.output.find("Verify return code: 0 (ok)") != std::string::npos);
        client.close_stdin();  // s_client sends close_notify and closes
        run_until(engine, [&] { return Echo::closes == 1; });
        CHECK(Echo::errors.empty());
    }
}

TEST_CASE("openssl s_client -reconnect resumes sessions with our server") {
    Engine engine;
    Pki pki;
    Echo::closes = 0;
    Echo::errors.clear();
    pants::Server<Echo> server(engine);
    server.set_tls(pki.server_context());
    REQUIRE(server.listen(loopback()));
    // -reconnect: one full handshake, then five more with the same session.
    Child client = openssl_client(pki, server.local_address()->port(), {"-tls1_2", "-reconnect"});
    client.close_stdin();
    run_until(engine, [&] { return !client.drain(); });
    MESSAGE(count(client.output, "Reused, TLSv1.2") << " resumed of " << count(client.output, "Verify return code"));
    CHECK(count(client.output, "Reused, TLSv1.2") == 5);
    CHECK(count(client.output, "New, TLSv1.2") == 1);
}

TEST_CASE("a client certificate checked by our server, presented by s_client") {
    Engine engine;
    Pki pki;
    Echo::closes = 0;
    Echo::errors.clear();
    pants::Server<Echo> server(engine);
    auto ctx = pki.server_context();
    ctx.set_verify_peer(true);
    REQUIRE(ctx.add_ca(pki.ca.cert_pem));
    server.set_tls(ctx);
    REQUIRE(server.listen(loopback()));
    Child client = openssl_client(pki, server.local_address()->port(),
                                  {"-cert", pki.client.cert_file, "-key", pki.client.key_file});
    client.send("with my certificate\n");
    client.wait_for(engine, "with my certificate\n");
    client.close_stdin();
    run_until(engine, [&] { return Echo::closes == 1; });
    CHECK(Echo::errors.empty());
}

namespace {

/// Echoes lines and counts on_write; a drain nobody wrote for is a bug.
struct CountingEcho : pants::Connection {
    static inline int writes_drained = 0;
    static inline int writes = 0;
    static inline int closes = 0;
    CountingEcho() { read_delimiter = "\n"; }
    void on_read(std::string_view line) override {
        ++writes;
        write(std::string(line) + "\n");
    }
    void on_write() override { ++writes_drained; }
    void on_close() override { ++closes; }
};

}  // namespace

TEST_CASE("our server's on_write follows its writes only, not handshake records or session tickets") {
    for (const char* version : {"-tls1_3", "-tls1_2"}) {
        CAPTURE(version);
        Engine engine;
        Pki pki;
        CountingEcho::writes_drained = CountingEcho::writes = CountingEcho::closes = 0;
        pants::Server<CountingEcho> server(engine);
        server.set_tls(pki.server_context());
        REQUIRE(server.listen(loopback()));
        // -sess_out: s_client writes the session to a file once a ticket
        // has arrived. TLS 1.3: the server's session tickets go out after
        // its handshake, on their own. TLS 1.2: the ticket and Finished
        // end the server's handshake. Either way they drained before the
        // line below reaches the server.
        const auto session = pki.dir.path / "session.pem";
        Child client = openssl_client(pki, server.local_address()->port(), {version, "-sess_out", session.string()});
        run_until(engine, [&] { return std::filesystem::exists(session) && std::filesystem::file_size(session) > 0; });
        CHECK(CountingEcho::writes_drained == 0);
        client.send("ping\n");
        client.wait_for(engine, "ping\n");  // echoed
        run_until(engine, [&] { return CountingEcho::writes_drained >= 1; });
        client.close_stdin();
        run_until(engine, [&] { return CountingEcho::closes == 1; });
        CHECK(CountingEcho::writes == 1);
        CHECK(CountingEcho::writes_drained == 1);
    }
}
