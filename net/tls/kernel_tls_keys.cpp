#include "kernel_tls_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/tls1.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <string_view>

namespace pants::tls::detail {

namespace {

// Where an SSL keeps its KernelTlsKeys (app data is the TlsStream's).
int keys_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

KernelTlsKeys* keys_of(const SSL* ssl) { return static_cast<KernelTlsKeys*>(SSL_get_ex_data(ssl, keys_index())); }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string from_hex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        const int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) return {};
        out.push_back(char(hi << 4 | lo));
    }
    return out;
}

// RFC 8446 7.1: HKDF-Expand-Label(Secret, Label, "", Length)
//   = HKDF-Expand(Secret, HkdfLabel, Length), where HkdfLabel is
//   uint16 length, opaque label<7..255> = "tls13 " + Label, opaque context<0..255>.
bool expand_label(const char* digest, const std::string& secret, std::string_view label, unsigned char* out,
                  std::size_t length) {
    std::string info;
    info.push_back(char(length >> 8));
    info.push_back(char(length & 0xff));
    info.push_back(char(6 + label.size()));
    info += "tls13 ";
    info += label;
    info.push_back(0);  // an empty context
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr);
    EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(secret.data()), secret.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
        OSSL_PARAM_construct_end(),
    };
    const bool ok = ctx && EVP_KDF_derive(ctx, out, length, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok;
}

struct Suite {
    const char* digest;  // TLS 1.3's HKDF hash, TLS 1.2's PRF hash
    std::size_t key_size;
    std::uint16_t cipher_type;
};

// AES-GCM suites only (RFC 8446 B.4; RFC 5288 for TLS 1.2): what the
// kernel's TLS offers on every architecture.
const Suite* suite_of(const SSL* ssl) {
    static constexpr Suite aes128_sha256{"SHA256", TLS_CIPHER_AES_GCM_128_KEY_SIZE, TLS_CIPHER_AES_GCM_128};
    static constexpr Suite aes256_sha384{"SHA384", TLS_CIPHER_AES_GCM_256_KEY_SIZE, TLS_CIPHER_AES_GCM_256};
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
    if (!cipher) return nullptr;
    const EVP_MD* md = SSL_CIPHER_get_handshake_digest(cipher);
    const int hash = md ? EVP_MD_get_type(md) : NID_undef;
    switch (SSL_CIPHER_get_cipher_nid(cipher)) {
    case NID_aes_128_gcm:
        return hash == NID_sha256 ? &aes128_sha256 : nullptr;
    case NID_aes_256_gcm:
        return hash == NID_sha384 ? &aes256_sha384 : nullptr;
    default:
        return nullptr;
    }
}

// RFC 5246 6.3: key_block = PRF(master_secret, "key expansion",
// server_random + client_random); with AES-GCM (RFC 5288 3) it holds
// client_write_key, server_write_key, client_write_IV[4], server_write_IV[4].
bool tls12_key_block(SSL* ssl, const Suite& suite, unsigned char* out, std::size_t length) {
    unsigned char master[SSL_MAX_MASTER_KEY_LENGTH];
    const std::size_t master_size = SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof master);
    std::string seed = "key expansion";
    seed.resize(seed.size() + 2 * SSL3_RANDOM_SIZE);
    auto* randoms = reinterpret_cast<unsigned char*>(seed.data()) + seed.size() - 2 * SSL3_RANDOM_SIZE;
    SSL_get_server_random(ssl, randoms, SSL3_RANDOM_SIZE);
    SSL_get_client_random(ssl, randoms + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE);
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_TLS1_PRF, nullptr);
    EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(suite.digest), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, master_size),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed.data(), seed.size()),
        OSSL_PARAM_construct_end(),
    };
    const bool ok = master_size > 0 && ctx && EVP_KDF_derive(ctx, out, length, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    OPENSSL_cleanse(master, sizeof master);
    return ok;
}

void put_be64(unsigned char* out, std::uint64_t n) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(n >> (56 - 8 * i));
}

// RFC 8446 4.4.4, 4.6.3: the handshake messages after which a direction's keys change.
constexpr unsigned char kFinished = 20;
constexpr unsigned char kKeyUpdate = 24;

}  // namespace

struct KeysCallbacks {
    static void key_log(const SSL* ssl, const char* line) {
        if (KernelTlsKeys* keys = keys_of(ssl)) keys->key_logged(line);
    }
    static void message(int write_p, int, int content_type, const void* buf, std::size_t len, SSL*, void* arg) {
        static_cast<KernelTlsKeys*>(arg)->message(write_p != 0, content_type, static_cast<const unsigned char*>(buf),
                                                  len);
    }
};

void KernelTlsKeys::install(SSL_CTX* ctx) { SSL_CTX_set_keylog_callback(ctx, &KeysCallbacks::key_log); }

KernelTlsKeys::KernelTlsKeys(SSL* ssl) : ssl_(ssl) {
    SSL_set_ex_data(ssl_, keys_index(), this);
    SSL_set_msg_callback(ssl_, &KeysCallbacks::message);
    SSL_set_msg_callback_arg(ssl_, this);
}

KernelTlsKeys::~KernelTlsKeys() {
    SSL_set_msg_callback(ssl_, nullptr);
    SSL_set_ex_data(ssl_, keys_index(), nullptr);
    OPENSSL_cleanse(client_secret_.data(), client_secret_.size());
    OPENSSL_cleanse(server_secret_.data(), server_secret_.size());
}

void KernelTlsKeys::key_logged(const char* line) {
    // NSS key log format: LABEL <client_random hex> <secret hex>.
    const std::string_view text(line);
    const auto first = text.find(' ');
    const auto second = first == text.npos ? text.npos : text.find(' ', first + 1);
    if (second == text.npos) return;
    const std::string_view label = text.substr(0, first);
    if (label == "CLIENT_TRAFFIC_SECRET_0")
        client_secret_ = from_hex(text.substr(second + 1));
    else if (label == "SERVER_TRAFFIC_SECRET_0")
        server_secret_ = from_hex(text.substr(second + 1));
}

void KernelTlsKeys::message(bool sent, int content_type, const unsigned char* data, std::size_t size) {
    std::uint64_t& records = sent ? sent_records_ : received_records_;
    if (content_type == SSL3_RT_HEADER) {
        if (size > 0 && data[0] == SSL3_RT_CHANGE_CIPHER_SPEC && SSL_version(ssl_) != TLS1_3_VERSION) {
            // RFC 5246 7.1: the records after it (Finished first) use the
            // new keys from sequence number 0. Seen in its record header,
            // as OpenSSL reports a received CCS no other way. (TLS 1.3's
            // compatibility CCS changes nothing.)
            records = 0;
            if (sent) have_nonce_ = false;
            return;
        }
        ++records;
        return;
    }
    if (content_type != SSL3_RT_HANDSHAKE || size == 0 || SSL_version(ssl_) != TLS1_3_VERSION) return;
    if (data[0] == kFinished) {
        // The record carrying it is counted; the next uses the
        // application keys from sequence number 0.
        records = 0;
    } else if (data[0] == kKeyUpdate) {
        // RFC 8446 7.2: application_traffic_secret_N+1 =
        //   HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length)
        const bool client_side = (SSL_is_server(ssl_) == 0) == sent;
        std::string& secret = client_side ? client_secret_ : server_secret_;
        const Suite* suite = suite_of(ssl_);
        std::string next(secret.size(), '\0');
        if (suite && !secret.empty() &&
            expand_label(suite->digest, secret, "traffic upd", reinterpret_cast<unsigned char*>(next.data()),
                         next.size()))
            secret = std::move(next);
        else
            secret.clear();  // crypto_info() then says EAGAIN
        records = 0;
    }
}

void KernelTlsKeys::sent_bytes(std::string_view wire) noexcept {
    // RFC 5246 6.2: type(1) version(2) length(2), then the fragment; a
    // TLS 1.2 AES-GCM fragment starts with its 8-byte explicit nonce
    // (RFC 5288 3). Records may be cut anywhere between calls.
    while (!wire.empty()) {
        if (header_have_ < sizeof header_) {
            const std::size_t n = std::min(wire.size(), sizeof header_ - header_have_);
            std::memcpy(header_ + header_have_, wire.data(), n);
            header_have_ += n;
            wire.remove_prefix(n);
            if (header_have_ == sizeof header_) {
                body_left_ = std::size_t(header_[3]) << 8 | header_[4];
                nonce_have_ = 0;
            }
            continue;
        }
        const std::size_t n = std::min(wire.size(), body_left_);
        if (nonce_have_ < sizeof nonce_) {
            const std::size_t take = std::min(n, sizeof nonce_ - nonce_have_);
            std::memcpy(nonce_ + nonce_have_, wire.data(), take);
            nonce_have_ += take;
            if (nonce_have_ == sizeof nonce_) {
                std::memcpy(last_nonce_, nonce_, sizeof nonce_);
                have_nonce_ = true;
            }
        }
        body_left_ -= n;
        wire.remove_prefix(n);
        if (body_left_ == 0) header_have_ = 0;
    }
}

Result<KernelCryptoInfo> KernelTlsKeys::crypto_info(Direction direction) const {
    const int version = SSL_version(ssl_);
    if (version != TLS1_3_VERSION && version != TLS1_2_VERSION) return pants::fail(ENOTSUP);
    const Suite* suite = suite_of(ssl_);
    if (!suite) return pants::fail(ENOTSUP);
    const bool client_side = (SSL_is_server(ssl_) == 0) == (direction == Direction::send);

    unsigned char key[TLS_CIPHER_AES_GCM_256_KEY_SIZE];
    // TLS 1.3: the 12-byte iv (RFC 8446 5.3), cut into salt and iv. TLS
    // 1.2: the 4-byte implicit salt, then the next explicit nonce.
    unsigned char iv[TLS_CIPHER_AES_GCM_128_SALT_SIZE + TLS_CIPHER_AES_GCM_128_IV_SIZE];
    const std::uint64_t n = records(direction);
    if (version == TLS1_3_VERSION) {
        const std::string& secret = client_side ? client_secret_ : server_secret_;
        if (secret.empty()) return pants::fail(EAGAIN);
        if (!expand_label(suite->digest, secret, "key", key, suite->key_size) ||
            !expand_label(suite->digest, secret, "iv", iv, sizeof iv))
            return pants::fail(EPROTO);
    } else {
        unsigned char block[2 * (TLS_CIPHER_AES_GCM_256_KEY_SIZE + TLS_CIPHER_AES_GCM_128_SALT_SIZE)];
        const std::size_t k = suite->key_size, salt = TLS_CIPHER_AES_GCM_128_SALT_SIZE;
        if (!tls12_key_block(ssl_, *suite, block, 2 * (k + salt))) return pants::fail(EPROTO);
        std::memcpy(key, block + (client_side ? 0 : k), k);
        std::memcpy(iv, block + 2 * k + (client_side ? 0 : salt), salt);
        OPENSSL_cleanse(block, sizeof block);
        if (direction == Direction::send) {
            // OpenSSL's explicit nonces count up from a random start; the
            // kernel goes on from the one after the last it sent, so no
            // nonce repeats under this key.
            if (!have_nonce_) return pants::fail(EAGAIN);
            std::uint64_t last = 0;
            for (unsigned char b : last_nonce_) last = last << 8 | b;
            put_be64(iv + salt, last + 1);
        } else {
            put_be64(iv + salt, n);  // unused: each record carries its nonce
        }
    }

    KernelCryptoInfo info;
    std::memset(&info, 0, sizeof info);
    unsigned char seq[8];
    put_be64(seq, n);
    // The kernel's nonce is salt || iv (TLS 1.3 XORs the sequence number
    // in, RFC 8446 5.3; TLS 1.2 sends iv as the explicit nonce and counts
    // it up per record).
    auto fill = [&](auto& c) {
        c.info.version = version == TLS1_3_VERSION ? TLS_1_3_VERSION : TLS_1_2_VERSION;
        c.info.cipher_type = suite->cipher_type;
        std::memcpy(c.key, key, sizeof c.key);
        std::memcpy(c.salt, iv, sizeof c.salt);
        std::memcpy(c.iv, iv + sizeof c.salt, sizeof c.iv);
        std::memcpy(c.rec_seq, seq, sizeof c.rec_seq);
        info.size = sizeof c;
    };
    if (suite->cipher_type == TLS_CIPHER_AES_GCM_128)
        fill(info.gcm128);
    else
        fill(info.gcm256);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(iv, sizeof iv);
    return info;
}

}  // namespace pants::tls::detail
