// tls::Context: an SSL_CTX with Pants' defaults (TLS 1.2 at least, peer
// verification on for clients, no renegotiation, resumption on).
#include <climits>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "context_state.hpp"
#include "openssl_error.hpp"

namespace pants::tls {

namespace detail {

ContextState::~ContextState() {
    for (auto& [name, session] : sessions_) SSL_SESSION_free(session);
    SSL_CTX_free(ctx);
}

void ContextState::prepare() {
    if (ca_ready) return;
    ca_ready = true;
    if (!server && !ca_given) SSL_CTX_set_default_verify_paths(ctx);
    ERR_clear_error();
}

SSL_SESSION* ContextState::session_for(const std::string& server_name) const {
    auto it = sessions_.find(server_name);
    return it == sessions_.end() ? nullptr : it->second;
}

void ContextState::remember(const std::string& server_name, SSL_SESSION* session) {
    SSL_SESSION*& slot = sessions_[server_name];
    if (slot) SSL_SESSION_free(slot);
    slot = session;
}

}  // namespace detail

namespace {

using detail::openssl_error;

// RFC 7301 3.2: the server picks the first of its protocols the client offers.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void* arg) {
    const std::string& ours = static_cast<detail::ContextState*>(arg)->alpn;
    unsigned char* chosen = nullptr;
    unsigned char chosen_len = 0;
    if (SSL_select_next_proto(&chosen, &chosen_len, reinterpret_cast<const unsigned char*>(ours.data()),
                              unsigned(ours.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;  // no protocol in common: go on without ALPN
    *out = chosen;
    *outlen = chosen_len;
    return SSL_TLSEXT_ERR_OK;
}

Result<Context> make(bool server) {
    SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) return unexpected(openssl_error());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // Renegotiation is a TLS 1.2 attack surface nobody needs here.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (server) {
        // Needed for resumption once client certificates are in play.
        static const unsigned char kSessionContext[] = "pants";
        SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    } else {
        // The client cache is ours (per server name, see ContextState).
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, detail::remember_session);
    }
    return Context::from_state(std::make_shared<detail::ContextState>(ctx, server));
}

BIO* memory_bio(std::string_view pem) {
    return BIO_new_mem_buf(pem.data(), pem.size() > INT_MAX ? INT_MAX : int(pem.size()));
}

}  // namespace

Context Context::from_state(std::shared_ptr<detail::ContextState> state) noexcept { return Context(std::move(state)); }
Result<Context> Context::client() { return make(false); }
Result<Context> Context::server() { return make(true); }
bool Context::is_server() const noexcept { return state_->server; }

Result<void> Context::use_certificate_chain_file(const std::string& path) {
    if (SSL_CTX_use_certificate_chain_file(state_->ctx, path.c_str()) != 1) return unexpected(openssl_error());
    return ok();
}

Result<void> Context::use_certificate_chain(std::string_view pem) {
    BIO* bio = memory_bio(pem);
    X509* leaf = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
    bool good = leaf && SSL_CTX_use_certificate(state_->ctx, leaf) == 1;
    X509_free(leaf);
    if (good) {
        SSL_CTX_clear_chain_certs(state_->ctx);
        while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
            if (SSL_CTX_add0_chain_cert(state_->ctx, ca) != 1) {
                X509_free(ca);
                good = false;
                break;
            }
        }
        // The loop ends on "no start line": the end of the text, not an error.
        if (good) ERR_clear_error();
    }
    BIO_free(bio);
    if (!good) return unexpected(openssl_error());
    return ok();
}

Result<void> Context::use_private_key_file(const std::string& path) {
    if (SSL_CTX_use_PrivateKey_file(state_->ctx, path.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(state_->ctx) != 1)
        return unexpected(openssl_error());
    return ok();
}

Result<void> Context::use_private_key(std::string_view pem) {
    BIO* bio = memory_bio(pem);
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
    const bool good = key && SSL_CTX_use_PrivateKey(state_->ctx, key) == 1 && SSL_CTX_check_private_key(state_->ctx) == 1;
    EVP_PKEY_free(key);
    BIO_free(bio);
    if (!good) return unexpected(openssl_error());
    return ok();
}

Result<void> Context::load_ca_file(const std::string& path) {
    if (SSL_CTX_load_verify_locations(state_->ctx, path.c_str(), nullptr) != 1) return unexpected(openssl_error());
    state_->ca_given = true;
    return ok();
}

Result<void> Context::add_ca(std::string_view pem) {
    BIO* bio = memory_bio(pem);
    X509_STORE* store = SSL_CTX_get_cert_store(state_->ctx);
    int added = 0;
    bool good = bio != nullptr;
    while (good) {
        X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
        if (!ca) break;
        good = X509_STORE_add_cert(store, ca) == 1;
        X509_free(ca);
        ++added;
    }
    BIO_free(bio);
    if (!good || added == 0) return unexpected(openssl_error());
    ERR_clear_error();  // the end of the text
    state_->ca_given = true;
    return ok();
}

Result<void> Context::use_system_ca() {
    if (SSL_CTX_set_default_verify_paths(state_->ctx) != 1) return unexpected(openssl_error());
    state_->ca_given = true;
    return ok();
}

void Context::set_verify_peer(bool on) { state_->verify_peer = on; }
bool Context::verify_peer() const noexcept { return state_->verify_peer; }

Result<void> Context::set_alpn(const std::vector<std::string>& protocols) {
    std::string wire;
    for (const auto& p : protocols) {
        if (p.empty() || p.size() > 255) return unexpected(std::make_error_code(std::errc::invalid_argument));
        wire += char(p.size());
        wire += p;
    }
    state_->alpn = std::move(wire);
    if (state_->server) {
        SSL_CTX_set_alpn_select_cb(state_->ctx, state_->alpn.empty() ? nullptr : select_alpn, state_.get());
    } else if (SSL_CTX_set_alpn_protos(state_->ctx, reinterpret_cast<const unsigned char*>(state_->alpn.data()),
                                       unsigned(state_->alpn.size())) != 0) {
        return unexpected(openssl_error());
    }
    return ok();
}

Result<void> Context::set_min_version(Version version) {
    if (SSL_CTX_set_min_proto_version(state_->ctx, version == Version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION) != 1)
        return unexpected(openssl_error());
    return ok();
}

void Context::set_session_resumption(bool on) {
    state_->resumption = on;
    if (on) {
        SSL_CTX_clear_options(state_->ctx, SSL_OP_NO_TICKET);
        if (state_->server) SSL_CTX_set_num_tickets(state_->ctx, 2);  // OpenSSL's default
        SSL_CTX_set_session_cache_mode(state_->ctx, state_->server ? SSL_SESS_CACHE_SERVER
                                                                   : SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    } else {
        SSL_CTX_set_options(state_->ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(state_->ctx, SSL_SESS_CACHE_OFF);
        if (state_->server) SSL_CTX_set_num_tickets(state_->ctx, 0);
    }
}

void Context::set_handshake_timeout(std::chrono::milliseconds timeout) noexcept { state_->handshake_timeout = timeout; }
std::chrono::milliseconds Context::handshake_timeout() const noexcept { return state_->handshake_timeout; }
void Context::set_kernel_tls(bool on) noexcept { state_->kernel_tls = on; }
bool Context::kernel_tls() const noexcept { return state_->kernel_tls; }

}  // namespace pants::tls
