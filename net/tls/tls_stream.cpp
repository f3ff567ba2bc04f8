#include "tls_stream.hpp"

#include <unistd.h>

#include <climits>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <pants/address.hpp>

#include "openssl_error.hpp"

namespace pants::detail {

namespace {

// One record's plain text at most (RFC 8446 5.1: 2^14). Shared by the
// streams of a thread: it holds bytes only until receive_plain() returns.
thread_local char plain_buffer[16384];

}  // namespace

Result<std::unique_ptr<TlsStream>> TlsStream::create(StreamIo& io, const tls::Context& context,
                                                     std::string_view server_name,
                                                     std::function<void()> established) {
    tls::detail::ContextState& state = *context.state();
    state.prepare();
    SSL* ssl = SSL_new(state.ctx);
    if (!ssl) return unexpected(tls::detail::openssl_error());
    std::unique_ptr<TlsStream> t(
        new TlsStream(io, context.state(), ssl, std::string(server_name), std::move(established)));
    BIO* bio = new_wire_bio(t->wire_);
    if (!bio) return unexpected(tls::detail::openssl_error());
    SSL_set_bio(ssl, bio, bio);
    if (state.server) {
        SSL_set_accept_state(ssl);
        if (state.verify_peer) SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        return t;
    }
    SSL_set_connect_state(ssl);
    const std::string& name = t->server_name_;
    const bool ip = !name.empty() && Address::from_ip(name, 0).has_value();
    // RFC 6066 3: SNI carries host names only, never IP literals.
    if (!name.empty() && !ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1)
        return unexpected(tls::detail::openssl_error());
    if (state.verify_peer) {
        SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
        // RFC 6125: the certificate must name the host (or the IP) we asked for.
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        const int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                           : name.empty() ? 1 : SSL_set1_host(ssl, name.c_str());
        if (set != 1) return unexpected(tls::detail::openssl_error());
    }
    if (state.resumption && !name.empty()) {
        if (SSL_SESSION* session = state.session_for(name)) SSL_set_session(ssl, session);
    }
    return t;
}

TlsStream::TlsStream(StreamIo& io, std::shared_ptr<tls::detail::ContextState> context, SSL* ssl,
                     std::string server_name, std::function<void()> established)
    : io_(io),
      context_(std::move(context)),
      ssl_(ssl),
      server_name_(std::move(server_name)),
      on_established_(std::move(established)),
      kernel_tls_(std::make_error_code(std::errc::no_protocol_option)) {
    wire_.io = &io;
    SSL_set_app_data(ssl_, this);
}

TlsStream::~TlsStream() {
    deadline_.cancel();
    SSL_free(ssl_);
}

void TlsStream::start(bool announce) {
    if (started_) return;
    started_ = true;
    announce_ = announce;
    deadline_ = io_.engine.defer(context_->handshake_timeout, [this] {
        if (!established_ && !failed_) fail(make_error_code(tls::Error::handshake_timeout), false);
    });
    handshake();  // a client's hello goes out now; a server waits for it
}

// --- receiving -----------------------------------------------------------------

void TlsStream::receive(std::string_view wire) {
    if (failed_ || !started_) return;
    wire_.input = wire;
    if (established_ || handshake()) read_records();
    wire_.input = {};  // the engine's buffer goes back now; OpenSSL keeps a partial record
}

bool TlsStream::handshake() {
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
        handshake_done();
        return !failed_ && io_.phase() < ChannelIo::Phase::closing;
    }
    if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ) fail(tls::detail::openssl_error(ssl_), true);
    return false;  // its next flight went out through the wire BIO
}

void TlsStream::handshake_done() {
    established_ = true;
    deadline_.cancel();
    if (context_->kernel_tls) {
        // The kernel's `tls` module would take the record keys now
        // (setsockopt TCP_ULP, then TLS_TX/TLS_RX). KernelTlsKeys
        // (kernel_tls_keys.hpp) derives what those take; the hand-over
        // itself (flushing OpenSSL's records first, then plain writes,
        // and the receive side at a record boundary) is not written yet,
        // so even where the module exists records stay here.
        kernel_tls_ = tls::kernel_tls_support();
        if (!kernel_tls_) kernel_tls_ = std::make_error_code(std::errc::not_supported);
    }
    pump();  // what was written (or write_file()d) during the handshake
    if (failed_ || io_.phase() >= ChannelIo::Phase::closing) return;
    if (io_.owner) io_.call_user([&] { io_.owner->on_tls_handshake(); });
    if (WaitList* w = io_.handshake_waiters()) w->resume_all();
    if (announce_ && io_.owner && io_.phase() < ChannelIo::Phase::closing) {
        io_.announce_connected();
        if (on_established_ && io_.owner) io_.call_user(on_established_);
    }
    io_.finish_output();  // an end() that waited for the handshake
}

void TlsStream::read_records() {
    while (!failed_ && io_.phase() < ChannelIo::Phase::closing) {
        const int n = SSL_read(ssl_, plain_buffer, int(sizeof plain_buffer));
        if (n > 0) {
            io_.receive_plain(std::string_view(plain_buffer, std::size_t(n)));
            continue;
        }
        switch (SSL_get_error(ssl_, n)) {
        case SSL_ERROR_WANT_READ:
            return;
        case SSL_ERROR_ZERO_RETURN:  // RFC 8446 6.1: close_notify, a clean end
            close_notify_received_ = true;
            io_.peer_ended();
            return;
        default:
            return fail(tls::detail::openssl_error(ssl_), true);
        }
    }
}

bool TlsStream::peer_closed() {
    if (failed_ || close_notify_received_ || close_notify_sent_) return true;
    // RFC 8446 6.1: without close_notify the end may be an attacker's cut.
    fail(make_error_code(tls::Error::truncated), false);
    return false;
}

// --- sending -----------------------------------------------------------------------

void TlsStream::write(std::string_view data) {
    if (failed_ || close_notify_sent_) return;
    user_output_ = true;
    // Records keep the order of the writes: behind a file still being
    // read, or before the handshake, bytes wait their turn.
    if (!established_ || !plain_.empty()) return plain_.append(data);
    encrypt(data);
}

void TlsStream::write_file(int fd, bool owns_fd, std::uint64_t offset, std::uint64_t size) {
    if (failed_ || close_notify_sent_) {
        if (owns_fd) ::close(fd);
        return;
    }
    user_output_ = true;
    plain_.push_file(fd, owns_fd, offset, size);
    if (established_) pump();
}

void TlsStream::output_room() {
    if (established_ && !plain_.empty()) pump();
}

void TlsStream::pump() {
    // The send queue holds at most high_water plus one chunk's records: a
    // peer that stops reading stops the reading of the file too. (An
    // empty queue always takes a chunk, whatever high_water says.)
    while (!plain_.empty() && !failed_ && io_.phase() <= ChannelIo::Phase::ending &&
           (io_.wire_bytes() < io_.high_water() || io_.wire_bytes() == 0)) {
        auto chunk = plain_.front();
        if (!chunk) {
            // The file could not be read: this stream fails, as a plain
            // stream's sendfile would (on_write_error).
            plain_.clear();
            return io_.output_failed(chunk.error());
        }
        if (chunk->empty()) break;  // only files that ended early were left
        encrypt(*chunk);
        plain_.pop(chunk->size());
    }
    // An end() that waited for the queued plain bytes goes on.
    if (plain_.empty() && !failed_ && io_.phase() == ChannelIo::Phase::ending) io_.finish_output();
}

bool TlsStream::take_user_drain() noexcept {
    if (!established_ || !plain_.empty() || !user_output_) return false;
    user_output_ = false;
    return true;
}

void TlsStream::encrypt(std::string_view data) {
    while (!data.empty()) {
        const int n = SSL_write(ssl_, data.data(), int(std::min<std::size_t>(data.size(), INT_MAX)));
        if (n <= 0) return fail(tls::detail::openssl_error(ssl_), true);
        data.remove_prefix(std::size_t(n));
    }
}

bool TlsStream::end() {
    if (failed_) return true;
    if (!established_) return false;  // handshake_done() calls finish_output()
    if (!plain_.empty()) return false;  // pump() calls it once all is encrypted
    if (!close_notify_sent_) {
        close_notify_sent_ = true;
        SSL_shutdown(ssl_);  // queues close_notify; the peer's is not awaited
        ERR_clear_error();
    }
    return true;
}

void TlsStream::fail(std::error_code ec, bool flush) {
    if (failed_) return;
    failed_ = true;
    deadline_.cancel();
    plain_.clear();
    if (WaitList* w = io_.handshake_waiters()) w->resume_all(ec);
    io_.transform_failed(ec, flush);
}

void TlsStream::closed(std::error_code error) noexcept {
    deadline_.cancel();
    plain_.clear();  // files still queued are closed now, not with the stream's memory
    // Resumed on the next turn: this runs inside whatever closed the stream.
    if (WaitList* list = io_.handshake_waiters())
        while (Waiter* w = list->front()) list->resume_later(*w, error);
}

// --- tls::Session ----------------------------------------------------------------------

bool TlsStream::resumed() const noexcept { return established_ && SSL_session_reused(ssl_) == 1; }

std::string_view TlsStream::alpn() const noexcept {
    const unsigned char* data = nullptr;
    unsigned int size = 0;
    SSL_get0_alpn_selected(ssl_, &data, &size);
    return data ? std::string_view(reinterpret_cast<const char*>(data), size) : std::string_view();
}

std::string_view TlsStream::version() const noexcept { return established_ ? SSL_get_version(ssl_) : ""; }

std::string_view TlsStream::server_name() const noexcept {
    if (!context_->server) return server_name_;
    const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
    return name ? name : "";
}

}  // namespace pants::detail

namespace pants::tls::detail {

int remember_session(SSL* ssl, SSL_SESSION* session) {
    auto* t = static_cast<pants::detail::TlsStream*>(SSL_get_app_data(ssl));
    if (!t || t->session_key().empty() || !t->context().resumption) return 0;
    t->context().remember(t->session_key(), session);
    return 1;  // the cache keeps OpenSSL's reference
}

}  // namespace pants::tls::detail
