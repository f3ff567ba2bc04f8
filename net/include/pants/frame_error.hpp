// pants/frame_error.hpp: why a read_delimiter could not cut the received
// bytes into frames. The channel reports these as read errors
// (on_read_error, or the error of a waiting read()) and closes.
#pragma once

#include <system_error>

namespace pants {

/// A framing failure that is neither a system call error nor an overflow.
enum class FrameError {
    /// A regex delimiter in RegexMode::match: the bytes at the front can
    /// never start a match, whatever arrives next.
    no_match = 1,
    /// A regex delimiter gave up: its match or backtracking limit was
    /// reached (a pattern such as (a+)+b against hostile input).
    regex_limit,
    /// A regex delimiter failed otherwise (e.g. invalid UTF-8 in a (*UTF)
    /// pattern's input).
    regex_failed,
};

/// The category of FrameError codes ("pants.frame").
const std::error_category& frame_category() noexcept;

inline std::error_code make_error_code(FrameError e) noexcept { return {int(e), frame_category()}; }

}  // namespace pants

template <>
struct std::is_error_code_enum<pants::FrameError> : std::true_type {};
