// net/tls/openssl_error.hpp: OpenSSL's error queue as a std::error_code.
#pragma once

#include <system_error>

#include <openssl/ssl.h>

namespace pants::tls::detail {

/// The error OpenSSL reported (its error queue, then cleared). With `ssl`,
/// a failed certificate verification is reported as its X509 result.
std::error_code openssl_error(const SSL* ssl = nullptr) noexcept;

}  // namespace pants::tls::detail
