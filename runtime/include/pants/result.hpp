// pants/result.hpp: how every Pants operation reports success or failure.
//
// Operations return Result<T>: either a T or a std::error_code. System call
// failures use std::generic_category() (errno values, compare with
// std::errc); DNS failures use pants::dns::category(). Exceptions are kept
// for programming errors and for user code that throws.
#pragma once

#include <cerrno>
#include <system_error>

#include <tl/expected.hpp>

namespace pants {

/// A value of type T, or the error that prevented it.
template <class T>
using Result = tl::expected<T, std::error_code>;

/// The failure half of a Result, for `return pants::unexpected(ec);`.
using tl::unexpected;

/// The error_code for an errno value (positive, as in `errno`).
inline std::error_code errno_code(int err) noexcept {
    return {err, std::generic_category()};
}

/// An error Result for an errno value: `return pants::fail(ECONNRESET);`.
inline tl::unexpected<std::error_code> fail(int err) noexcept {
    return tl::unexpected<std::error_code>(errno_code(err));
}

/// An error Result for a std::errc value.
inline tl::unexpected<std::error_code> fail(std::errc err) noexcept {
    return tl::unexpected<std::error_code>(std::make_error_code(err));
}

/// Success with no value, for Result<void>.
inline Result<void> ok() noexcept { return {}; }

}  // namespace pants
