// Public helpers on presentation names.
#include <pants/dns/name.hpp>

#include <pants/dns/detail/wire_writer.hpp>

#include <algorithm>

namespace pants::dns {

namespace {

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

}  // namespace

bool name_equal(std::string_view a, std::string_view b) {
    // The common case, a reply echoing our question: the same text but for
    // ASCII case. Then both are one name, equal if it is a valid one.
    if (a.size() == b.size() &&
        std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); })) {
        detail::WireName wire;
        return detail::name_to_wire(a, wire) == WireError::ok;
    }
    detail::WireName wa, wb;
    if (detail::name_to_wire(a, wa) != WireError::ok || detail::name_to_wire(b, wb) != WireError::ok) return false;
    if (wa.size != wb.size) return false;
    // RFC 4343: only ASCII letters fold; other bytes compare exactly. The
    // length bytes (at most 63) are no letters, so folding them is harmless
    // and a length mismatch still fails.
    for (std::size_t i = 0; i < wa.size; ++i)
        if (ascii_lower(static_cast<char>(wa.bytes[i])) != ascii_lower(static_cast<char>(wb.bytes[i]))) return false;
    return true;
}

Result<std::string> normalize_name(std::string_view name) {
    detail::WireName wire;
    if (auto e = detail::name_to_wire(name, wire); e != WireError::ok) return tl::unexpected(make_error_code(e));
    return detail::name_text(wire);
}

std::string reverse_name(const std::array<std::uint8_t, 4>& address) {
    std::string out;
    for (std::size_t i = 4; i-- > 0;) out += std::to_string(address[i]) + ".";
    return out + "in-addr.arpa.";
}

std::string reverse_name(const std::array<std::uint8_t, 16>& address) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 16; i-- > 0;) {
        out += hex[address[i] & 0xF];
        out += '.';
        out += hex[address[i] >> 4];
        out += '.';
    }
    return out + "ip6.arpa.";
}

}  // namespace pants::dns
