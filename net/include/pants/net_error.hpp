// pants/net_error.hpp: errors the channels report besides errno values.
#pragma once

#include <system_error>

namespace pants {

/// Channel conditions that are not system call failures.
enum class NetError {
    end_of_stream = 1,  ///< the peer closed its side; no more data will come
    buffer_overflow,    ///< a frame would exceed buffer_size
    closed,             ///< the channel was closed
    write_buffer_full,  ///< queued output would pass max_write_buffer
};

/// The category of NetError codes ("pants.net").
const std::error_category& net_category() noexcept;

inline std::error_code make_error_code(NetError e) noexcept { return {int(e), net_category()}; }

}  // namespace pants

template <>
struct std::is_error_code_enum<pants::NetError> : std::true_type {};
