// The keys kernel TLS would take (issue 11, net/tls/kernel_tls_keys.hpp).
// This machine's kernel has no `tls` module, so the hand-off itself cannot
// run here; what can be checked is that the parameters are right: records
// captured from the wire between two OpenSSL connections are decrypted in
// user space with EVP AES-GCM from the derived key, salt, iv and sequence
// number (RFC 8446 5.2, 5.3), and each side's send parameters equal the
// other side's receive parameters.
#include "net/tls/kernel_tls_keys.hpp"

#include "tls_fixtures.hpp"

#include <openssl/err.h>

#include <cstring>

using namespace test;
using pants::tls::detail::KernelCryptoInfo;
using pants::tls::detail::KernelTlsKeys;
using Direction = KernelTlsKeys::Direction;

namespace {

SSL_CTX* make_ctx(bool server, const Pki& pki, const char* suites, int max_version) {
    SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    REQUIRE(ctx);
    if (server) {
        REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, pki.server.cert_file.c_str()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, pki.server.key_file.c_str(), SSL_FILETYPE_PEM) == 1);
    }
    // TLS 1.3 suites ("TLS_AES_...") or TLS 1.2 cipher lists ("ECDHE-...").
    if (max_version == TLS1_3_VERSION)
        REQUIRE(SSL_CTX_set_ciphersuites(ctx, suites) == 1);
    else
        REQUIRE(SSL_CTX_set_cipher_list(ctx, suites) == 1);
    REQUIRE(SSL_CTX_set_max_proto_version(ctx, max_version) == 1);
    KernelTlsKeys::install(ctx);
    return ctx;
}

/// A client and a server SSL joined by memory BIOs; the bytes each sends
/// are handed over by move(), which the test can capture.
struct Pair {
    SSL_CTX* client_ctx;
    SSL_CTX* server_ctx;
    SSL* client;
    SSL* server;
    Pair(const Pki& pki, const char* suites, int max_version = TLS1_3_VERSION)
        : client_ctx(make_ctx(false, pki, suites, max_version)),
          server_ctx(make_ctx(true, pki, suites, max_version)),
          client(SSL_new(client_ctx)),
          server(SSL_new(server_ctx)) {
        SSL_set_bio(client, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
        SSL_set_bio(server, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
        SSL_set_connect_state(client);
        SSL_set_accept_state(server);
    }
    ~Pair() {
        SSL_free(client);
        SSL_free(server);
        SSL_CTX_free(client_ctx);
        SSL_CTX_free(server_ctx);
    }
    KernelTlsKeys* client_keys = nullptr;
    KernelTlsKeys* server_keys = nullptr;
    /// What `from` wrote, now given to `to` to read; the sender's keys see
    /// it as a stream's wire BIO would show them.
    std::string move(SSL* from, SSL* to) {
        std::string bytes;
        char buf[16384];
        int n;
        while ((n = BIO_read(SSL_get_wbio(from), buf, sizeof buf)) > 0) bytes.append(buf, std::size_t(n));
        if (!bytes.empty()) BIO_write(SSL_get_rbio(to), bytes.data(), int(bytes.size()));
        if (KernelTlsKeys* keys = from == client ? client_keys : server_keys) {
            // In two pieces, cut inside a record: the parser keeps its place.
            const std::size_t cut = std::min<std::size_t>(bytes.size(), 7);
            keys->sent_bytes(std::string_view(bytes).substr(0, cut));
            keys->sent_bytes(std::string_view(bytes).substr(cut));
        }
        return bytes;
    }
    void handshake() {
        for (int i = 0; i < 10 && !(SSL_is_init_finished(client) && SSL_is_init_finished(server)); ++i) {
            SSL_do_handshake(client);
            move(client, server);
            SSL_do_handshake(server);
            move(server, client);
        }
        REQUIRE(SSL_is_init_finished(client));
        REQUIRE(SSL_is_init_finished(server));
        // The client takes in the server's session tickets (application
        // records) without any data to read.
        char buf[1];
        CHECK(SSL_read(client, buf, 1) <= 0);
        ERR_clear_error();
    }
};

const tls12_crypto_info_aes_gcm_256& as256(const KernelCryptoInfo& k) { return k.gcm256; }

/// The bytes of `info` (key size per cipher), for comparing two of them.
std::string bytes_of(const KernelCryptoInfo& info) {
    return std::string(reinterpret_cast<const char*>(&info), info.size);
}

/// Decrypts the TLS 1.3 records in `wire` with `info` (RFC 8446 5.2:
/// additional data = the record header; nonce = iv XOR the sequence number;
/// the plaintext ends with the real content type and zero padding).
/// Returns the application data, in order; fails the test on any record
/// that does not decrypt.
/// TLS 1.2 (RFC 5246 6.2.3.3, RFC 5288 3): nonce = salt || the record's
/// explicit nonce; additional data = seq_num || type || version || length;
/// the first record's explicit nonce must be the iv the kernel would use.
std::string decrypt_records(std::string_view wire, const KernelCryptoInfo& info) {
    const bool tls12 = info.base.version == TLS_1_2_VERSION;
    const bool aes256 = info.base.cipher_type == TLS_CIPHER_AES_GCM_256;
    const unsigned char* key = aes256 ? info.gcm256.key : info.gcm128.key;
    const std::size_t key_size = aes256 ? sizeof info.gcm256.key : sizeof info.gcm128.key;
    unsigned char iv[12];
    std::memcpy(iv, aes256 ? info.gcm256.salt : info.gcm128.salt, 4);
    std::memcpy(iv + 4, aes256 ? info.gcm256.iv : info.gcm128.iv, 8);
    std::uint64_t seq = 0;
    for (int i = 0; i < 8; ++i) seq = seq << 8 | (aes256 ? info.gcm256.rec_seq : info.gcm128.rec_seq)[i];
    std::string plain;
    bool first_record = true;
    while (!wire.empty()) {
        REQUIRE(wire.size() >= 5);
        const auto* header = reinterpret_cast<const unsigned char*>(wire.data());
        const std::size_t length = std::size_t(header[3]) << 8 | header[4];
        if (!tls12) REQUIRE(header[0] == 23);  // every TLS 1.3 record after the handshake looks like application data
        REQUIRE(wire.size() >= 5 + length);
        const std::size_t explicit_size = tls12 ? 8 : 0;
        REQUIRE(length > 16 + explicit_size);
        const std::size_t text_size = length - 16 - explicit_size;
        unsigned char nonce[12];
        std::memcpy(nonce, iv, 12);
        unsigned char aad[13];
        std::size_t aad_size = 5;
        std::memcpy(aad, header, 5);
        if (tls12) {
            if (first_record) CHECK(std::memcmp(header + 5, iv + 4, 8) == 0);  // the nonce OpenSSL used next
            std::memcpy(nonce + 4, header + 5, 8);
            for (int i = 0; i < 8; ++i) aad[i] = static_cast<unsigned char>(seq >> (56 - 8 * i));
            std::memcpy(aad + 8, header, 3);
            aad[11] = static_cast<unsigned char>(text_size >> 8);
            aad[12] = static_cast<unsigned char>(text_size);
            aad_size = 13;
        } else {
            for (int i = 0; i < 8; ++i) nonce[4 + i] ^= static_cast<unsigned char>(seq >> (56 - 8 * i));
        }
        first_record = false;
        EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
        REQUIRE(EVP_DecryptInit_ex(ctx, key_size == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm(), nullptr, key, nonce));
        int n = 0;
        REQUIRE(EVP_DecryptUpdate(ctx, nullptr, &n, aad, int(aad_size)) == 1);
        std::string inner(text_size, '\0');
        REQUIRE(EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(inner.data()), &n,
                                  header + 5 + explicit_size, int(text_size)) == 1);
        REQUIRE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, const_cast<unsigned char*>(header + 5 + length - 16)) ==
                1);
        const int verified = EVP_DecryptFinal_ex(ctx, nullptr, &n);
        EVP_CIPHER_CTX_free(ctx);
        CHECK_MESSAGE(verified == 1, "record " << seq << " did not decrypt");
        if (verified != 1) return plain;
        if (tls12) {
            if (header[0] == 23) plain += inner;
        } else {
            while (!inner.empty() && inner.back() == 0) inner.pop_back();  // padding
            REQUIRE(!inner.empty());
            const char type = inner.back();
            inner.pop_back();
            if (type == 23) plain += inner;
        }
        wire.remove_prefix(5 + length);
        ++seq;
    }
    return plain;
}

void check_both_directions(const Pki& pki, const char* suite, std::uint16_t cipher_type, int version) {
    Pair pair(pki, suite, version);
    KernelTlsKeys client_keys(pair.client);
    KernelTlsKeys server_keys(pair.server);
    pair.client_keys = &client_keys;
    pair.server_keys = &server_keys;
    pair.handshake();
    // TLS 1.3: the server's session tickets; TLS 1.2: its Finished.
    CHECK(server_keys.records(Direction::send) >= 1);
    CHECK(client_keys.records(Direction::receive) == server_keys.records(Direction::send));

    auto server_tx = server_keys.crypto_info(Direction::send);
    auto client_rx = client_keys.crypto_info(Direction::receive);
    auto client_tx = client_keys.crypto_info(Direction::send);
    auto server_rx = server_keys.crypto_info(Direction::receive);
    REQUIRE(server_tx);
    REQUIRE(client_rx);
    REQUIRE(client_tx);
    REQUIRE(server_rx);
    CHECK(server_tx->base.version == (version == TLS1_3_VERSION ? TLS_1_3_VERSION : TLS_1_2_VERSION));
    CHECK(server_tx->base.cipher_type == cipher_type);
    // One side's send parameters are the other's receive parameters (TLS
    // 1.2's receive iv aside: each record carries its own nonce).
    const auto same = [&](const KernelCryptoInfo& a, const KernelCryptoInfo& b) {
        if (version == TLS1_3_VERSION) return bytes_of(a) == bytes_of(b);
        KernelCryptoInfo x = a, y = b;
        std::memset(cipher_type == TLS_CIPHER_AES_GCM_256 ? x.gcm256.iv : x.gcm128.iv, 0, 8);
        std::memset(cipher_type == TLS_CIPHER_AES_GCM_256 ? y.gcm256.iv : y.gcm128.iv, 0, 8);
        return bytes_of(x) == bytes_of(y);
    };
    CHECK(same(*server_tx, *client_rx));
    CHECK(same(*client_tx, *server_rx));
    CHECK(!same(*server_tx, *client_tx));

    // What each side sends next decrypts with its send parameters.
    std::string sent;
    for (int i = 0; i < 5; ++i) {
        std::string m = "server record " + std::to_string(i) + std::string(std::size_t(i) * 1000, 'x');
        REQUIRE(SSL_write(pair.server, m.data(), int(m.size())) == int(m.size()));
        sent += m;
    }
    CHECK(decrypt_records(pair.move(pair.server, pair.client), *server_tx) == sent);
    const std::string hello = "client says hello";
    REQUIRE(SSL_write(pair.client, hello.data(), int(hello.size())) == int(hello.size()));
    CHECK(decrypt_records(pair.move(pair.client, pair.server), *client_tx) == hello);

    // OpenSSL on the other side read the same records (nothing was disturbed).
    char buf[16384];
    std::string got;
    int n;
    while ((n = SSL_read(pair.client, buf, sizeof buf)) > 0) got.append(buf, std::size_t(n));
    CHECK(got == sent);
    CHECK(SSL_read(pair.server, buf, sizeof buf) == int(hello.size()));
    ERR_clear_error();

    // After those records the next sequence numbers moved on by five and one.
    auto later = server_keys.crypto_info(Direction::send);
    REQUIRE(later);
    CHECK(server_keys.records(Direction::send) == client_keys.records(Direction::receive));
    CHECK(bytes_of(*later) != bytes_of(*server_tx));
}

}  // namespace

TEST_CASE("kTLS parameters decrypt the records of TLS 1.3 and 1.2 with AES-GCM-128 and 256, both ways") {
    struct Case {
        const char* suite;
        std::uint16_t cipher_type;
        int version;
    };
    for (const Case& c : {Case{"TLS_AES_128_GCM_SHA256", TLS_CIPHER_AES_GCM_128, TLS1_3_VERSION},
                          Case{"TLS_AES_256_GCM_SHA384", TLS_CIPHER_AES_GCM_256, TLS1_3_VERSION},
                          Case{"ECDHE-ECDSA-AES128-GCM-SHA256", TLS_CIPHER_AES_GCM_128, TLS1_2_VERSION},
                          Case{"ECDHE-ECDSA-AES256-GCM-SHA384", TLS_CIPHER_AES_GCM_256, TLS1_2_VERSION}}) {
        CAPTURE(c.suite);
        Pki pki;
        check_both_directions(pki, c.suite, c.cipher_type, c.version);
    }
}

TEST_CASE("kTLS parameters follow a KeyUpdate to the next traffic secret") {
    Pki pki;
    Pair pair(pki, "TLS_AES_256_GCM_SHA384");
    KernelTlsKeys client_keys(pair.client);
    KernelTlsKeys server_keys(pair.server);
    pair.handshake();
    auto before = server_keys.crypto_info(Direction::send);
    REQUIRE(before);
    // RFC 8446 4.6.3: the server updates its sending keys; the KeyUpdate
    // goes out with the old ones, what follows with the new ones.
    REQUIRE(SSL_key_update(pair.server, SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
    const std::string m = "after the update";
    REQUIRE(SSL_write(pair.server, m.data(), int(m.size())) == int(m.size()));
    std::string wire = pair.move(pair.server, pair.client);
    char buf[256];
    CHECK(SSL_read(pair.client, buf, sizeof buf) == int(m.size()));
    auto after = server_keys.crypto_info(Direction::send);
    REQUIRE(after);
    // New keys, the whole 32 bytes (their first byte alone is the same
    // once in 256 updates: that check failed now and then).
    CHECK(std::memcmp(as256(*after).key, as256(*before).key, sizeof as256(*after).key) != 0);
    CHECK(bytes_of(*after) != bytes_of(*before));
    CHECK(bytes_of(*after) == bytes_of(*client_keys.crypto_info(Direction::receive)));
    CHECK(server_keys.records(Direction::send) == 1);
    // The last record of `wire` is the data, under the new keys; its
    // sequence number is 0, one below what crypto_info says now.
    const std::size_t first_length = std::size_t(static_cast<unsigned char>(wire[3])) << 8 |
                                     static_cast<unsigned char>(wire[4]);
    KernelCryptoInfo at_zero = *after;
    std::memset(at_zero.gcm256.rec_seq, 0, sizeof at_zero.gcm256.rec_seq);
    CHECK(decrypt_records(std::string_view(wire).substr(5 + first_length), at_zero) == m);
}

TEST_CASE("kTLS parameters are refused for what they do not cover: ChaCha20") {
    Pki pki;
    for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
        CAPTURE(version);
        Pair pair(pki, version == TLS1_3_VERSION ? "TLS_CHACHA20_POLY1305_SHA256" : "ECDHE-ECDSA-CHACHA20-POLY1305",
                  version);
        KernelTlsKeys keys(pair.server);
        pair.handshake();
        CHECK(SSL_version(pair.server) == version);
        CHECK(keys.crypto_info(Direction::send).error() == std::errc::not_supported);
    }
}
