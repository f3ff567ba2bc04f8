// The Status of an RCODE, and the search list's candidate names.
#include <algorithm>

#include "resolver_core.hpp"

namespace pants::dns::detail {

Status status_of_rcode(std::uint16_t rcode) {
    // RFC 1035 4.1.1: 0..5 are the Status values themselves.
    if (rcode <= DNS_REFUSED) return static_cast<Status>(rcode);
    return DNS_SERVERFAILURE;
}

std::vector<std::string> search_candidates(std::string_view name, const std::vector<std::string>& search, int ndots) {
    if (name.empty() || name == ".") return {"."};
    if (name.back() == '.') return {std::string(name)};
    std::string absolute = std::string(name) + ".";
    const auto dots = std::count(name.begin(), name.end(), '.');
    std::vector<std::string> out;
    if (dots >= ndots) out.push_back(absolute);
    for (std::string_view domain : search) {
        while (!domain.empty() && domain.front() == '.') domain.remove_prefix(1);
        if (domain.empty()) continue;
        std::string candidate = absolute + std::string(domain);
        if (candidate.back() != '.') candidate.push_back('.');
        out.push_back(std::move(candidate));
    }
    if (dots < ndots) out.push_back(absolute);
    return out;
}

}  // namespace pants::dns::detail
