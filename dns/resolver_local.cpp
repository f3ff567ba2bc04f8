// Names the resolver answers itself, never asking a server: the localhost
// names of RFC 6761 6.3.
#include <cctype>

#include <pants/dns/name.hpp>

#include "resolver_core.hpp"

namespace pants::dns::detail {

bool is_localhost_name(std::string_view name) {
    // RFC 6761 6.3: "localhost." and every name that ends in ".localhost.",
    // compared case-insensitively (RFC 4343), relative or absolute.
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    constexpr std::string_view label = "localhost";
    if (name.size() < label.size()) return false;
    const std::string_view tail = name.substr(name.size() - label.size());
    for (std::size_t i = 0; i < label.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(tail[i])) != label[i]) return false;
    if (name.size() == label.size()) return true;
    // A label boundary before "localhost", and the rest a valid name
    // ("a..localhost" is not one).
    return name[name.size() - label.size() - 1] == '.' && normalize_name(name).has_value();
}

std::optional<Answer> localhost_answer(std::string_view name, std::uint16_t type, std::uint16_t klass) {
    if (klass != IN || !is_localhost_name(name)) return std::nullopt;
    // RFC 6761 6.3 (3, 4): the loopback address for address queries, a
    // negative answer for every other type. The name exists, so that
    // negative answer is NODATA (DNS_OK without records), not NXDOMAIN.
    Answer answer;
    answer.status = DNS_OK;
    if (type == A) answer.rdata.push_back(rdata::A{{127, 0, 0, 1}});
    if (type == AAAA) answer.rdata.push_back(rdata::AAAA{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}});
    return answer;
}

}  // namespace pants::dns::detail
