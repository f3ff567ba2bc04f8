// Public helpers on presentation names.
#include <pants/dns/name.hpp>

#include <pants/dns/detail/wire_writer.hpp>

namespace pants::dns {

namespace {

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

}  // namespace

bool name_equal(std::string_view a, std::string_view b) {
    std::vector<std::string> la, lb;
    if (detail::parse_name(a, la) != WireError::ok || detail::parse_name(b, lb) != WireError::ok) return false;
    if (la.size() != lb.size()) return false;
    for (std::size_t i = 0; i < la.size(); ++i) {
        if (la[i].size() != lb[i].size()) return false;
        // RFC 4343: only ASCII letters fold; other bytes compare exactly.
        for (std::size_t k = 0; k < la[i].size(); ++k)
            if (ascii_lower(la[i][k]) != ascii_lower(lb[i][k])) return false;
    }
    return true;
}

Result<std::string> normalize_name(std::string_view name) {
    std::vector<std::string> labels;
    if (auto e = detail::parse_name(name, labels); e != WireError::ok) return tl::unexpected(make_error_code(e));
    if (labels.empty()) return std::string(".");
    std::string out;
    for (const auto& label : labels) {
        detail::append_escaped_label(out, std::span(reinterpret_cast<const std::uint8_t*>(label.data()), label.size()));
        out.push_back('.');
    }
    return out;
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
