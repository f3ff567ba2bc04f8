// From a reply to what Pants reports: status, canonical name, TTL, RDATA;
// and the search list's candidate names.
#include <algorithm>
#include <limits>

#include <pants/dns/name.hpp>

#include "resolver_core.hpp"

namespace pants::dns::detail {

Status status_of_rcode(std::uint16_t rcode) {
    // RFC 1035 4.1.1: 0..5 are the Status values themselves.
    if (rcode <= DNS_REFUSED) return static_cast<Status>(rcode);
    return DNS_SERVERFAILURE;
}

namespace {

// RFC 2181 8: a TTL with the top bit set is treated as zero.
std::uint32_t sane_ttl(std::uint32_t ttl) { return ttl > 0x7fffffffu ? 0 : ttl; }

// True if `name` is `zone` or lies below it (both in presentation form).
bool within(std::string_view name, std::string_view zone) {
    auto n = normalize_name(name);
    auto z = normalize_name(zone);
    if (!n || !z) return false;
    if (*z == ".") return true;
    if (n->size() < z->size()) return false;
    const std::string_view tail = std::string_view(*n).substr(n->size() - z->size());
    if (!name_equal(tail, *z)) return false;
    return n->size() == z->size() || (*n)[n->size() - z->size() - 1] == '.';
}

// RFC 2308 5: a negative answer is cached for the smaller of the SOA
// record's own TTL and its MINIMUM field. No SOA, no negative caching; an
// SOA for a zone the name is not in says nothing about it (RFC 2308 4,
// and it would let a forged reply poison unrelated names).
std::uint32_t negative_ttl(const Message& reply, std::string_view qname) {
    for (const auto& rr : reply.authority) {
        if (rr.type != SOA || !within(qname, rr.name)) continue;
        if (const auto* soa = std::get_if<rdata::SOA>(&rr.data))
            return std::min(sane_ttl(rr.ttl), sane_ttl(soa->minimum));
    }
    return 0;
}

}  // namespace

Answer answer_from_reply(const Message& reply, std::string_view qname, std::uint16_t qtype, std::uint32_t& cache_ttl) {
    Answer answer;
    answer.status = status_of_rcode(reply.rcode);
    cache_ttl = 0;
    std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
    // Follow the chain from the question's name (RFC 1034 3.6.2); a CNAME
    // or ANY query takes the records at the name itself.
    const bool follow = qtype != CNAME && qtype != ANY;
    std::string_view current = qname;  // into qname or the reply: both outlive this
    for (int links = 0; links <= 16; ++links) {
        const std::string* next = nullptr;
        std::uint32_t next_ttl = 0;
        for (const auto& rr : reply.answers) {
            if (!equals_decoded_name(rr.name, current)) continue;
            if (rr.type == qtype || (qtype == ANY && rr.type != OPT)) {
                answer.rdata.push_back(rr.data);
                ttl = std::min(ttl, sane_ttl(rr.ttl));
            } else if (follow && rr.type == CNAME && !next) {
                if (const auto* c = std::get_if<rdata::CNAME>(&rr.data)) {
                    next = &c->name;
                    next_ttl = sane_ttl(rr.ttl);
                }
            }
        }
        if (!answer.rdata.empty() || !next || links == 16) break;
        ttl = std::min(ttl, next_ttl);
        answer.cname_chain.emplace_back(current);
        answer.cname = *next;
        current = *next;
    }
    if (answer.status == DNS_OK && !answer.rdata.empty()) {
        answer.ttl = ttl;
        cache_ttl = ttl;
    } else if (answer.status == DNS_OK || answer.status == DNS_NAMEERROR) {
        // NODATA or NXDOMAIN (RFC 2308 1, 5).
        answer.ttl = negative_ttl(reply, current);
        cache_ttl = answer.ttl;
    }
    return answer;
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
