// pants/tls.hpp: TLS (OpenSSL 3) for streams, servers and clients.
//
//   auto ctx = pants::tls::Context::server();          // Result<Context>
//   ctx->use_certificate_chain_file("cert.pem");
//   ctx->use_private_key_file("key.pem");
//   server.set_tls(*ctx);                             // every connection
//
//   auto client_ctx = pants::tls::Context::client();   // verifies the peer
//   client.connect("example.org", 443, *client_ctx);  // SNI + host check
//
// A Context holds what the connections made from it share: certificates,
// trusted CAs, verification, ALPN, protocol versions and the session cache
// (resumption). It is a handle: copies share one OpenSSL SSL_CTX, and each
// connection keeps what it needs alive. Configure it before the first
// connection uses it; one engine thread at a time.
//
// Errors are std::error_codes of tls::category(): OpenSSL's own errors
// (message() is OpenSSL's reason text, "certificate verify failed" ...),
// certificate verification results (tls::verify_result() gives the X509
// code, message() its text, "certificate has expired" ...), and the
// tls::Error values below.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <pants/result.hpp>

namespace pants::tls {

/// Errors TLS adds to OpenSSL's.
enum class Error {
    handshake_timeout = 1,  ///< the handshake did not finish in time
    truncated,              ///< the peer closed the connection without close_notify
};

/// The category of every TLS error ("pants.tls").
const std::error_category& category() noexcept;
std::error_code make_error_code(Error e) noexcept;
/// The X509_V_ERR_* code when `ec` is a failed certificate verification,
/// else 0.
int verify_result(std::error_code ec) noexcept;

/// Lowest protocol version a Context accepts.
enum class Version { tls1_2, tls1_3 };

namespace detail {
struct ContextState;
}

class Context {
public:
    /// A client context: verifies the server's certificate (against the
    /// system's CA store unless CAs are given) and its host name.
    static Result<Context> client();
    /// A server context: give it a certificate chain and key.
    static Result<Context> server();

    bool is_server() const noexcept;

    /// The certificate chain (leaf first), from a PEM file or PEM text.
    Result<void> use_certificate_chain_file(const std::string& path);
    Result<void> use_certificate_chain(std::string_view pem);
    /// The private key of the leaf, from a PEM file or PEM text.
    Result<void> use_private_key_file(const std::string& path);
    Result<void> use_private_key(std::string_view pem);

    /// Trusts the CAs of a PEM file (a bundle) or PEM text, for verifying
    /// peers. A client given none trusts the system's store.
    Result<void> load_ca_file(const std::string& path);
    Result<void> add_ca(std::string_view pem);
    /// Trusts the system's CA store (also when CAs were given).
    Result<void> use_system_ca();

    /// Clients: verify the server (default on). Servers: ask every client
    /// for a certificate and require it (default off).
    void set_verify_peer(bool on);
    bool verify_peer() const noexcept;

    /// ALPN protocols, most preferred first ("h2", "http/1.1"). A server
    /// picks the first of its list that the client offers.
    Result<void> set_alpn(const std::vector<std::string>& protocols);
    /// Lowest version accepted (default TLS 1.2).
    Result<void> set_min_version(Version version);
    /// Session resumption (tickets, and a client cache per server name);
    /// on by default.
    void set_session_resumption(bool on);

    /// How long a connection may take to finish its handshake (default
    /// 10 s); past it the connection fails with Error::handshake_timeout.
    void set_handshake_timeout(std::chrono::milliseconds timeout) noexcept;
    std::chrono::milliseconds handshake_timeout() const noexcept;

    /// Ask for kernel TLS after each handshake (off by default). Where the
    /// kernel lacks the `tls` module the records stay in user space and
    /// Session::kernel_tls() says why.
    void set_kernel_tls(bool on) noexcept;
    bool kernel_tls() const noexcept;

    /// Internal: the shared state.
    const std::shared_ptr<detail::ContextState>& state() const noexcept { return state_; }
    /// Internal: a Context around `state`.
    static Context from_state(std::shared_ptr<detail::ContextState> state) noexcept;

private:
    explicit Context(std::shared_ptr<detail::ContextState> state) noexcept : state_(std::move(state)) {}
    std::shared_ptr<detail::ContextState> state_;
};

/// What a TLS stream knows about its connection (Stream::tls()).
class Session {
public:
    /// The handshake has finished.
    virtual bool established() const noexcept = 0;
    /// This connection resumed an earlier session (no full handshake).
    virtual bool resumed() const noexcept = 0;
    /// The negotiated ALPN protocol ("" if none).
    virtual std::string_view alpn() const noexcept = 0;
    /// The protocol version ("TLSv1.3").
    virtual std::string_view version() const noexcept = 0;
    /// The server name: what a client asked for (SNI), or what a server
    /// was asked for ("" if none).
    virtual std::string_view server_name() const noexcept = 0;
    /// Empty when the kernel encrypts this connection's records (kTLS);
    /// else why it does not (not asked for: ENOPROTOOPT).
    virtual std::error_code kernel_tls() const noexcept = 0;

protected:
    ~Session() = default;
};

/// Whether this kernel offers the `tls` upper layer protocol (kTLS):
/// empty if so, else why not (ENOENT: the `tls` module is not loaded).
std::error_code kernel_tls_support() noexcept;

}  // namespace pants::tls

namespace std {
template <>
struct is_error_code_enum<pants::tls::Error> : true_type {};
}  // namespace std
