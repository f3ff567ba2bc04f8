// net/tls/kernel_tls_keys.hpp: the record keys kernel TLS needs, taken
// from an OpenSSL connection during its handshake.
//
// Linux's `tls` upper layer protocol takes, per direction, the AEAD key,
// the implicit nonce (salt and iv) and the next record sequence number:
// setsockopt(SOL_TLS, TLS_TX or TLS_RX, tls12_crypto_info_aes_gcm_*).
// OpenSSL 3.0 does not hand those out for a connection over a memory BIO,
// so this collects them:
// - the TLS 1.3 application traffic secrets, from the context's key-log
//   callback (CLIENT_/SERVER_TRAFFIC_SECRET_0), expanded into key and iv
//   with HKDF-Expand-Label (RFC 8446 7.1, 7.3); a KeyUpdate moves a
//   direction to its next secret (RFC 8446 7.2);
// - the sequence numbers: the records each direction carried since its
//   keys last changed (RFC 8446 5.3: the count restarts at every key
//   change), counted from the record headers OpenSSL reports to its
//   message callback; a direction's keys change after its Finished and
//   after each KeyUpdate.
// - TLS 1.2 (RFC 5246 6.3, RFC 5288): the key block, PRF(master_secret,
//   "key expansion", server_random + client_random), from the session's
//   master secret; sequence numbers restart at each ChangeCipherSpec; the
//   kernel's first explicit nonce follows the last one sent, which
//   sent_bytes() reads from the records as they go to the wire.
// AES-GCM-128/256 only (what the kernel offers on every architecture).
// Nothing here hands the keys to the kernel yet (see
// TlsStream::handshake_done). Engine thread only.
#pragma once

#include <sys/socket.h>

#include <linux/tls.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include <pants/result.hpp>

namespace pants::tls::detail {

/// One direction's parameters for setsockopt(SOL_TLS, TLS_TX / TLS_RX).
struct KernelCryptoInfo {
    union {
        tls_crypto_info base;
        tls12_crypto_info_aes_gcm_128 gcm128;
        tls12_crypto_info_aes_gcm_256 gcm256;
    };
    socklen_t size;  // of the member in use
};

class KernelTlsKeys {
public:
    enum class Direction { send, receive };

    /// Installs the key-log callback that feeds watching connections on
    /// `ctx` (once per context; it replaces any other key-log callback).
    static void install(SSL_CTX* ctx);

    explicit KernelTlsKeys(SSL* ssl);
    KernelTlsKeys(const KernelTlsKeys&) = delete;
    KernelTlsKeys& operator=(const KernelTlsKeys&) = delete;
    ~KernelTlsKeys();

    /// After the handshake: what the kernel takes for `direction` now (the
    /// next record's sequence number included). ENOTSUP for a version or
    /// cipher this does not cover; EAGAIN before the secrets are known.
    Result<KernelCryptoInfo> crypto_info(Direction direction) const;

    /// The bytes of whole records as they go to the wire, in order (TLS
    /// 1.2 needs the explicit nonce of the last record sent).
    void sent_bytes(std::string_view wire) noexcept;

    /// Records sent and received under the current keys.
    std::uint64_t records(Direction direction) const noexcept {
        return direction == Direction::send ? sent_records_ : received_records_;
    }

private:
    friend struct KeysCallbacks;
    void key_logged(const char* line);
    void message(bool sent, int content_type, const unsigned char* data, std::size_t size);

    SSL* ssl_;
    std::string client_secret_;  // the current application traffic secrets
    std::string server_secret_;
    std::uint64_t sent_records_ = 0;
    std::uint64_t received_records_ = 0;
    // sent_bytes(): where it is in the record stream.
    unsigned char header_[5];
    std::size_t header_have_ = 0;
    std::size_t body_left_ = 0;
    unsigned char nonce_[8];
    std::size_t nonce_have_ = 0;
    unsigned char last_nonce_[8];  // of the last record sent since the ChangeCipherSpec
    bool have_nonce_ = false;
};

}  // namespace pants::tls::detail
