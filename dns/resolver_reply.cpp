// Replies read in place: RFC 1035 4.1 (header, question, resource
// records), 4.1.4 (compression), RFC 6891 6.1 (OPT), RFC 1034 3.6.2
// (CNAME chains), RFC 2308 5 (negative TTLs), RFC 2181 8 (TTL range).
#include "resolver_reply.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include <pants/dns/detail/rdata_codec.hpp>
#include <pants/dns/detail/wire_reader.hpp>

#include "resolver_core.hpp"

namespace pants::dns::detail {

namespace {

tl::unexpected<std::error_code> failure(WireError e) { return tl::unexpected(make_error_code(e)); }

#define PANTS_DNS_TRY(expr)                                        \
    do {                                                           \
        if (WireError e_ = (expr); e_ != WireError::ok) return e_; \
    } while (0)

// One resource record's fixed part (RFC 1035 4.1.3) and its RDATA.
struct RecordFields {
    std::uint16_t type = 0;
    std::uint16_t klass = 0;
    std::uint32_t ttl = 0;
    WireReader rdata{std::span<const std::uint8_t>{}};
};

// Reads one record at `in`: owner into `owner`, the rest into `rr`.
WireError read_record(WireReader& in, WireName& owner, RecordFields& rr) {
    std::uint16_t rdlength = 0;
    PANTS_DNS_TRY(in.wire_name(owner));
    PANTS_DNS_TRY(in.u16(rr.type));
    PANTS_DNS_TRY(in.u16(rr.klass));
    PANTS_DNS_TRY(in.u32(rr.ttl));
    PANTS_DNS_TRY(in.u16(rdlength));
    return in.sub(rdlength, rr.rdata);
}

// RFC 6891 6.1.2: OPTION-CODE, OPTION-LENGTH, OPTION-DATA, repeated.
WireError check_edns_options(WireReader in) {
    while (!in.at_end()) {
        std::uint16_t code = 0, length = 0;
        if (in.u16(code) != WireError::ok || in.u16(length) != WireError::ok || in.skip(length) != WireError::ok)
            return WireError::bad_edns;
    }
    return WireError::ok;
}

// The sections after the header, checked entry by entry; `counts` (from
// the header) are not trusted, `reply.counts` gets what came whole.
WireError scan_body(WireReader& in, const std::uint16_t (&counts)[4], ReplyLayout& reply, std::uint8_t& extended_rcode) {
    // RFC 1035 4.1.2.
    reply.starts[0] = in.position();
    for (std::uint16_t i = 0; i < counts[0]; ++i) {
        PANTS_DNS_TRY(in.skip_name());
        PANTS_DNS_TRY(in.skip(4));  // QTYPE, QCLASS
        ++reply.counts[0];
    }
    // RFC 1035 4.1.3.
    WireName owner;
    RecordFields rr;
    for (int s = 1; s < 4; ++s) {
        reply.starts[s] = in.position();
        for (std::uint16_t i = 0; i < counts[s]; ++i) {
            PANTS_DNS_TRY(read_record(in, owner, rr));
            if (rr.type == OPT) {
                // RFC 6891 6.1.1: at most one OPT, in the additional
                // section, owned by the root; anything else is malformed.
                if (s != 3 || reply.edns || owner.size != 1) return WireError::bad_edns;
                reply.edns = true;
                // RFC 6891 6.1.3: TTL = EXTENDED-RCODE(8) VERSION(8) DO(1) Z(15).
                extended_rcode = static_cast<std::uint8_t>(rr.ttl >> 24);
                PANTS_DNS_TRY(check_edns_options(rr.rdata));
            } else {
                PANTS_DNS_TRY(check_rdata(rr.type, rr.klass, rr.rdata));
            }
            ++reply.counts[s];
        }
    }
    return WireError::ok;
}

// ASCII case folded (RFC 4343): every other byte, length bytes included
// (at most 63, never a letter), compares as itself.
bool folded_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) noexcept {
    auto lower = [](std::uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<std::uint8_t>(c + 32) : c; };
    for (std::size_t i = 0; i < n; ++i)
        if (a[i] != b[i] && lower(a[i]) != lower(b[i])) return false;
    return true;
}

// Calls `f(owner, fields)` for each record of section `s` (1: answer,
// 2: authority, 3: additional), all of which scan_reply() checked.
template <class F>
void for_each_record(const Reply& reply, int s, F&& f) {
    WireReader in(reply.wire());
    (void)in.skip(reply.layout.starts[s]);
    WireName owner;
    RecordFields rr;
    for (std::uint16_t i = 0; i < reply.layout.counts[s]; ++i) {
        if (read_record(in, owner, rr) != WireError::ok) return;  // cannot happen: scanned
        f(owner, rr);
    }
}

// RFC 2181 8: a TTL with the top bit set is treated as zero.
std::uint32_t sane_ttl(std::uint32_t ttl) { return ttl > 0x7fffffffu ? 0 : ttl; }

// True if `name` is `zone` or lies below it: `zone`'s labels end `name`'s.
bool within(const WireName& name, const WireName& zone) noexcept {
    for (std::size_t p = 0; p < name.size; p += 1u + name.bytes[p]) {
        if (name.size - p == zone.size) return folded_equal(name.bytes.data() + p, zone.bytes.data(), zone.size);
        if (name.bytes[p] == 0) break;
    }
    return false;
}

// RFC 2308 5: a negative answer is cached for the smaller of the SOA
// record's own TTL and its MINIMUM field. No SOA, no negative caching; an
// SOA for a zone the name is not in says nothing about it (RFC 2308 4,
// and it would let a forged reply poison unrelated names).
std::uint32_t negative_ttl(const Reply& reply, const WireName& qname) {
    bool found = false;
    std::uint32_t ttl = 0;
    for_each_record(reply, 2, [&](const WireName& owner, RecordFields& rr) {
        if (found || rr.type != SOA || !within(qname, owner)) return;
        // RFC 1035 3.3.13: MNAME, RNAME, SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM.
        std::uint32_t minimum = 0;
        if (rr.rdata.skip_name() != WireError::ok || rr.rdata.skip_name() != WireError::ok ||
            rr.rdata.skip(16) != WireError::ok || rr.rdata.u32(minimum) != WireError::ok)
            return;  // cannot happen: scanned
        found = true;
        ttl = std::min(sane_ttl(rr.ttl), sane_ttl(minimum));
    });
    return ttl;
}

// The Rdata of one record, as decode() would give it.
Rdata rdata_of(const RecordFields& rr) {
    WireReader in = rr.rdata;
    std::span<const std::uint8_t> b;
    if (rr.type == A && rr.klass == IN && in.bytes(4, b) == WireError::ok) {  // RFC 1035 3.4.1
        rdata::A a;
        std::copy(b.begin(), b.end(), a.address.begin());
        return a;
    }
    if (rr.type == AAAA && rr.klass == IN && in.bytes(16, b) == WireError::ok) {  // RFC 3596 2.2
        rdata::AAAA a;
        std::copy(b.begin(), b.end(), a.address.begin());
        return a;
    }
    Rdata out;
    (void)decode_rdata(rr.type, rr.klass, rr.rdata, out);  // checked by scan_reply()
    return out;
}

}  // namespace

Result<ReplyLayout> scan_reply(std::span<const std::uint8_t> bytes) {
    WireReader in(bytes);
    ReplyLayout reply;
    std::uint16_t flags = 0;
    std::uint16_t counts[4] = {};
    // RFC 1035 4.1.1: ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    if (in.u16(reply.id) != WireError::ok || in.u16(flags) != WireError::ok) return failure(WireError::truncated);
    for (auto& count : counts)
        if (in.u16(count) != WireError::ok) return failure(WireError::truncated);
    reply.qr = (flags & 0x8000) != 0;
    reply.tc = (flags & 0x0200) != 0;
    reply.rcode = flags & 0xF;
    std::uint8_t extended_rcode = 0;
    const WireError e = scan_body(in, counts, reply, extended_rcode);
    // RFC 2181 9: a truncated (TC) reply may stop mid-way; what came whole
    // is kept so the caller sees the header and knows to retry over TCP.
    if (e != WireError::ok && !(e == WireError::truncated && reply.tc)) return failure(e);
    reply.rcode = static_cast<std::uint16_t>(reply.rcode | extended_rcode << 4);
    return reply;
}

bool same_wire_name(const WireName& a, const WireName& b) noexcept {
    return a.size == b.size && folded_equal(a.bytes.data(), b.bytes.data(), a.size);
}

bool reply_matches(std::span<const std::uint8_t> bytes, const ReplyLayout& reply, const Expected& expected) {
    if (!reply.qr || reply.id != expected.id) return false;
    if (!expected.question) return true;
    // Without a question a reply proves nothing about our name: accept it
    // only as a failure that moves on and is never cached (RFC 1035 4.1.1:
    // a server that cannot parse a query may omit the question).
    if (reply.counts[0] == 0)
        return reply.rcode == DNS_FORMATERROR || reply.rcode == DNS_SERVERFAILURE ||
               reply.rcode == DNS_NOTIMPLEMENTED || reply.rcode == DNS_REFUSED;
    if (reply.counts[0] != 1) return false;
    WireReader in(bytes);
    WireName name;
    std::uint16_t type = 0, klass = 0;
    if (in.skip(reply.starts[0]) != WireError::ok || in.wire_name(name) != WireError::ok ||
        in.u16(type) != WireError::ok || in.u16(klass) != WireError::ok)
        return false;  // cannot happen: scanned
    return type == expected.question->type && klass == expected.question->klass &&
           same_wire_name(name, *expected.question_name);
}

Answer answer_from_reply(const Reply& reply, std::string_view qname, const WireName& qname_wire, std::uint16_t qtype,
                         std::uint32_t& cache_ttl) {
    Answer answer;
    answer.status = status_of_rcode(reply.layout.rcode);
    cache_ttl = 0;
    std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
    // Follow the chain from the question's name (RFC 1034 3.6.2); a CNAME
    // or ANY query takes the records at the name itself.
    const bool follow = qtype != CNAME && qtype != ANY;
    WireName current = qname_wire;
    for (int links = 0; links <= 16; ++links) {
        bool has_next = false;
        WireReader next(std::span<const std::uint8_t>{});  // the first CNAME's RDATA
        std::uint32_t next_ttl = 0;
        for_each_record(reply, 1, [&](const WireName& owner, const RecordFields& rr) {
            if (!same_wire_name(owner, current)) return;
            if (rr.type == qtype || (qtype == ANY && rr.type != OPT)) {
                answer.rdata.push_back(rdata_of(rr));
                ttl = std::min(ttl, sane_ttl(rr.ttl));
            } else if (follow && rr.type == CNAME && !has_next) {
                has_next = true;
                next = rr.rdata;
                next_ttl = sane_ttl(rr.ttl);
            }
        });
        if (!answer.rdata.empty() || !has_next || links == 16) break;
        ttl = std::min(ttl, next_ttl);
        if (links == 0)
            answer.cname_chain.emplace_back(qname);
        else
            answer.cname_chain.push_back(answer.cname);
        WireReader again = next;
        if (next.name(answer.cname) != WireError::ok || again.wire_name(current) != WireError::ok)
            break;  // cannot happen: scanned
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

}  // namespace pants::dns::detail
