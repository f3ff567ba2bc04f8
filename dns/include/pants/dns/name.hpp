// pants/dns/name.hpp: domain names in presentation form.
//
// Pants' DNS codec stores names as absolute presentation strings: labels
// joined by dots, a trailing dot, "." for the root, and dig's escapes for
// bytes that are not plain (`\.` `\\` `\"` `\(` `\)` `\;` `\@` `\$`, and
// `\DDD` for bytes outside 0x21..0x7E). Encoding accepts names with or
// without the trailing dot; there is no search list at this layer.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <pants/result.hpp>

namespace pants::dns {

/// True when a and b are the same name: compared label by label, ASCII
/// case-insensitively (RFC 4343), escapes resolved, trailing dot optional.
/// False when either is not a valid name.
bool name_equal(std::string_view a, std::string_view b);

/// `name` in canonical absolute form ("Example.COM" -> "Example.COM.",
/// "\065" -> "A"); an error (WireError) when it cannot be encoded.
Result<std::string> normalize_name(std::string_view name);

/// The in-addr.arpa name of an IPv4 address (RFC 1035 3.5):
/// {192,0,2,1} -> "1.2.0.192.in-addr.arpa.".
std::string reverse_name(const std::array<std::uint8_t, 4>& address);

/// The ip6.arpa name of an IPv6 address (RFC 3596 2.5), one nibble a label.
std::string reverse_name(const std::array<std::uint8_t, 16>& address);

}  // namespace pants::dns
