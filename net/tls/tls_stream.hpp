// net/tls/tls_stream.hpp: TLS as a StreamTransform (see
// ../stream_transform.hpp): one OpenSSL SSL per stream, fed from the
// stream's receive path through a WireBio and writing records into its
// batched send. The handshake has a deadline (Context's handshake
// timeout); a peer that closes without close_notify is a truncation.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <openssl/ssl.h>

#include <pants/tls.hpp>

#include "../stream_io.hpp"
#include "context_state.hpp"
#include "plain_queue.hpp"
#include "wire_bio.hpp"

namespace pants::detail {

class TlsStream final : public StreamTransform, public tls::Session {
public:
    /// A client or server (as `context` is) TLS layer for `io`;
    /// `established` runs after on_connect when announcing (a server's
    /// on_accept).
    static Result<std::unique_ptr<TlsStream>> create(StreamIo& io, const tls::Context& context,
                                                     std::string_view server_name,
                                                     std::function<void()> established = {});
    ~TlsStream() override;

    // StreamTransform.
    void start(bool announce) override;
    void receive(std::string_view wire) override;
    bool peer_closed() override;
    void write(std::string_view data) override;
    void write_file(int fd, bool owns_fd, std::uint64_t offset, std::uint64_t size) override;
    void output_room() override;
    bool take_user_drain() noexcept override;
    bool end() override;
    std::size_t pending() const noexcept override { return std::size_t(plain_.size()); }
    bool established() const noexcept override { return established_; }
    void closed(std::error_code error) noexcept override;

    // tls::Session.
    bool resumed() const noexcept override;
    std::string_view alpn() const noexcept override;
    std::string_view version() const noexcept override;
    std::string_view server_name() const noexcept override;
    std::error_code kernel_tls() const noexcept override { return kernel_tls_; }

    /// The client's cache key (OpenSSL's new-session callback finds us).
    const std::string& session_key() const noexcept { return server_name_; }
    tls::detail::ContextState& context() const noexcept { return *context_; }

private:
    TlsStream(StreamIo& io, std::shared_ptr<tls::detail::ContextState> context, SSL* ssl, std::string server_name,
              std::function<void()> established);
    bool handshake();
    void handshake_done();
    void read_records();
    void encrypt(std::string_view data);
    /// Encrypts queued plain bytes (file chunks) while the send queue is
    /// under high_water.
    void pump();
    void fail(std::error_code ec, bool flush);

    StreamIo& io_;
    std::shared_ptr<tls::detail::ContextState> context_;  // the SSL's callbacks use it
    SSL* ssl_;
    WireEnds wire_;
    std::string server_name_;
    std::function<void()> on_established_;
    PlainQueue plain_;  // written before the handshake finished, or behind a file
    Timer deadline_;
    std::error_code kernel_tls_;
    bool announce_ = false;
    bool started_ = false;
    bool established_ = false;
    bool failed_ = false;
    bool close_notify_sent_ = false;
    bool close_notify_received_ = false;
    bool user_output_ = false;  // user bytes joined the send queue since its last drain
};

}  // namespace pants::detail
