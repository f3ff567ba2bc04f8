// net/tls/context_state.hpp: what a tls::Context shares with its
// connections: the SSL_CTX and the client's session cache.
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>

#include <openssl/ssl.h>

#include <pants/tls.hpp>

namespace pants::tls::detail {

struct ContextState {
    ContextState(SSL_CTX* ctx, bool server) noexcept : ctx(ctx), server(server), verify_peer(!server) {}
    ContextState(const ContextState&) = delete;
    ContextState& operator=(const ContextState&) = delete;
    ~ContextState();

    SSL_CTX* ctx;
    const bool server;
    bool verify_peer;
    bool ca_given = false;      // CAs loaded: a client does not add the system store
    bool ca_ready = false;      // prepare() ran
    bool resumption = true;
    bool kernel_tls = false;
    std::chrono::milliseconds handshake_timeout{10000};
    std::string alpn;           // RFC 7301 3.1: length-prefixed protocol names

    /// A new connection is about to use it: a client without CAs of its
    /// own trusts the system store from now on.
    void prepare();
    /// Client resumption: the latest session per server name (owned).
    SSL_SESSION* session_for(const std::string& server_name) const;
    void remember(const std::string& server_name, SSL_SESSION* session);

private:
    std::unordered_map<std::string, SSL_SESSION*> sessions_;
};

/// OpenSSL's new-session callback for clients (tls_stream.cpp): keeps the
/// session in the ContextState under the stream's server name.
int remember_session(SSL* ssl, SSL_SESSION* session);

}  // namespace pants::tls::detail
