// tests/tls_fixtures.hpp: what the TLS suites share: a throwaway PKI made
// with the OpenSSL API in a temp dir (a CA, a server leaf for localhost and
// 127.0.0.1, an expired leaf, a client leaf, and a second CA nobody
// trusts), ready-made contexts, and `openssl` command-line peers run as
// child processes that are killed when the test ends.
#pragma once

#include "net_helpers.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <string>
#include <vector>

extern char** environ;

namespace test {

struct Certificate {
    std::string cert_pem;
    std::string key_pem;
    std::string cert_file;
    std::string key_file;
};

namespace detail {

inline std::string pem_of(X509* x) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    char* p = nullptr;
    long n = BIO_get_mem_data(b, &p);
    std::string s(p, std::size_t(n));
    BIO_free(b);
    return s;
}

inline std::string pem_of(EVP_PKEY* k) {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
    char* p = nullptr;
    long n = BIO_get_mem_data(b, &p);
    std::string s(p, std::size_t(n));
    BIO_free(b);
    return s;
}

inline void add_ext(X509* x, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    REQUIRE(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

struct Issued {
    X509* cert;
    EVP_PKEY* key;
};

// A P-256 certificate for `cn`, valid from `from` to `to` seconds from now;
// self-signed when `issuer` is null.
inline Issued issue(const char* cn, const Issued* issuer, long from, long to, const char* san, bool ca) {
    static long serial = 1;
    EVP_PKEY* key = EVP_EC_gen("P-256");
    REQUIRE(key);
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert) : name);
    X509* signer = issuer ? issuer->cert : x;
    add_ext(x, signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(x, signer, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    add_ext(x, signer, NID_subject_key_identifier, "hash");
    if (issuer) add_ext(x, signer, NID_authority_key_identifier, "keyid");
    if (san) add_ext(x, signer, NID_subject_alt_name, san);
    REQUIRE(X509_sign(x, issuer ? issuer->key : key, EVP_sha256()) > 0);
    return {x, key};
}

inline Certificate save(const TempDir& dir, const std::string& name, Issued i) {
    Certificate c{pem_of(i.cert), pem_of(i.key), {}, {}};
    c.cert_file = dir.write(name + ".pem", c.cert_pem);
    c.key_file = dir.write(name + ".key", c.key_pem);
    X509_free(i.cert);
    EVP_PKEY_free(i.key);
    return c;
}

}  // namespace detail

/// A throwaway PKI in a temp dir, made fresh for each test that wants one.
struct Pki {
    TempDir dir{"pants-tls"};
    Certificate ca, server, expired, client, other_ca, other_server;

    Pki() {
        using detail::issue;
        constexpr long day = 86400;
        auto ca_i = issue("Pants Test CA", nullptr, -day, day, nullptr, true);
        auto other_i = issue("Pants Untrusted CA", nullptr, -day, day, nullptr, true);
        server = detail::save(dir, "server", issue("localhost", &ca_i, -day, day, "DNS:localhost,IP:127.0.0.1", false));
        expired = detail::save(dir, "expired",
                               issue("localhost", &ca_i, -2 * day, -day, "DNS:localhost,IP:127.0.0.1", false));
        client = detail::save(dir, "client", issue("pants client", &ca_i, -day, day, nullptr, false));
        other_server =
            detail::save(dir, "other_server", issue("localhost", &other_i, -day, day, "DNS:localhost,IP:127.0.0.1", false));
        ca = detail::save(dir, "ca", ca_i);
        other_ca = detail::save(dir, "other_ca", other_i);
    }

    /// A server context with `leaf` (default: the good server certificate).
    pants::tls::Context server_context(const Certificate* leaf = nullptr) const {
        auto ctx = pants::tls::Context::server();
        REQUIRE(ctx);
        const Certificate& c = leaf ? *leaf : server;
        REQUIRE(ctx->use_certificate_chain_file(c.cert_file));
        REQUIRE(ctx->use_private_key_file(c.key_file));
        return *ctx;
    }
    /// A client context that trusts the test CA only.
    pants::tls::Context client_context() const {
        auto ctx = pants::tls::Context::client();
        REQUIRE(ctx);
        REQUIRE(ctx->add_ca(ca.cert_pem));
        return *ctx;
    }
};

/// A client that records the TLS callbacks too.
struct TlsRecorder : Recorder {
    using Recorder::Recorder;
    void on_tls_handshake() override { events.push_back("handshake"); }
    void on_tls_error(std::error_code e) override {
        error = e;
        events.push_back("tls_error");
    }
};

/// A child process with its stdin and its stdout+stderr on pipes; killed
/// (SIGKILL) and reaped when destroyed.
struct Child {
    pid_t pid = -1;
    int in = -1;   // the child's stdin
    int out = -1;  // the child's stdout and stderr
    std::string output;

    explicit Child(const std::vector<std::string>& args) {
        int to[2], from[2];
        REQUIRE(::pipe2(to, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(from, O_CLOEXEC) == 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, to[0], 0);
        posix_spawn_file_actions_adddup2(&fa, from[1], 1);
        posix_spawn_file_actions_adddup2(&fa, from[1], 2);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        REQUIRE(::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0);
        posix_spawn_file_actions_destroy(&fa);
        ::close(to[0]);
        ::close(from[1]);
        in = to[1];
        out = from[0];
        ::fcntl(out, F_SETFL, O_NONBLOCK);
    }
    Child(const Child&) = delete;
    ~Child() {
        if (in >= 0) ::close(in);
        ::close(out);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    /// Reads what the child printed so far into `output`; false at its end.
    bool drain() {
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(out, buf, sizeof buf);
            if (n > 0) {
                output.append(buf, std::size_t(n));
                continue;
            }
            return n < 0 && errno == EAGAIN;
        }
    }
    void send(std::string_view d) { REQUIRE(::write(in, d.data(), d.size()) == ssize_t(d.size())); }
    void close_stdin() { ::close(std::exchange(in, -1)); }
    /// Drives `engine` until the child printed `text` (or 20 s passed).
    void wait_for(pants::Engine& engine, std::string_view text) {
        run_until(engine, [&] {
            drain();
            return output.find(text) != std::string::npos;
        });
    }
};

/// Raises the soft descriptor limit to the hard one; the new soft limit.
inline rlim_t raise_fd_limit() {
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
    ::getrlimit(RLIMIT_NOFILE, &r);
    return r.rlim_cur;
}

}  // namespace test
