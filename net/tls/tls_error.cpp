// The "pants.tls" error category. Its values, in three ranges that cannot
// meet: tls::Error (below 1000), certificate verification results
// (kVerifyBase + X509_V_ERR_*), and OpenSSL's packed errors (library << 23
// | reason, so at least 1 << 23), whose message() is OpenSSL's reason text.
#include <string>

#include <openssl/err.h>
#include <openssl/x509.h>

#include <pants/tls.hpp>

#include "openssl_error.hpp"

namespace pants::tls {

namespace {

constexpr int kVerifyBase = 1000;
constexpr int kVerifyEnd = 1 << 20;

class TlsCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "pants.tls"; }
    std::string message(int c) const override {
        switch (Error(c)) {
        case Error::handshake_timeout:
            return "TLS handshake timed out";
        case Error::truncated:
            return "connection closed without TLS close_notify (truncated)";
        }
        if (c >= kVerifyBase && c < kVerifyEnd)
            return std::string("certificate verify failed: ") + X509_verify_cert_error_string(c - kVerifyBase);
        if (const char* reason = ERR_reason_error_string(static_cast<unsigned long>(c))) return reason;
        return "OpenSSL error " + std::to_string(c);
    }
};

}  // namespace

const std::error_category& category() noexcept {
    static const TlsCategory instance;
    return instance;
}

std::error_code make_error_code(Error e) noexcept { return {static_cast<int>(e), category()}; }

int verify_result(std::error_code ec) noexcept {
    if (ec.category() != category() || ec.value() < kVerifyBase || ec.value() >= kVerifyEnd) return 0;
    return ec.value() - kVerifyBase;
}

namespace detail {

std::error_code openssl_error(const SSL* ssl) noexcept {
    // The last error is the most specific one (the first is often a
    // generic "error in handshake" wrapper from deeper down).
    const unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    const long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (verify != X509_V_OK && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
        return {kVerifyBase + int(verify), category()};
    if (e == 0) return std::make_error_code(std::errc::protocol_error);  // OpenSSL failed without saying why
    if (ERR_SYSTEM_ERROR(e)) return {ERR_GET_REASON(e), std::system_category()};
    return {int(ERR_PACK(ERR_GET_LIB(e), 0, ERR_GET_REASON(e))), category()};
}

}  // namespace detail

}  // namespace pants::tls
