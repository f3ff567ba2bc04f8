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
    std::size_t owner_at = 0;  // offset of the owner name
    std::uint16_t type = 0;
    std::uint16_t klass = 0;
    std::uint32_t ttl = 0;
    WireReader rdata{std::span<const std::uint8_t>{}};
};

// Reads one record at `in` into `rr`, the owner name checked and skipped
// (only skipped when `checked`: scan_reply() has been over these bytes).
WireError read_record(WireReader& in, RecordFields& rr, bool checked = false) {
    std::uint16_t rdlength = 0;
    rr.owner_at = in.position();
    if (checked)
        in.skip_checked_name();
    else
        PANTS_DNS_TRY(in.skip_name());
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

// A reader over the whole of `bytes`, at `at` (within them).
WireReader reader_at(std::span<const std::uint8_t> bytes, std::size_t at) {
    WireReader in(bytes);
    (void)in.skip(at);
    return in;
}

// True if the name at `at` (already checked) is the root, ".": a root
// label, or a pointer to one.
bool is_root(std::span<const std::uint8_t> bytes, std::size_t at) {
    if (bytes[at] == 0) return true;  // as every OPT record is written
    WireName name;
    return reader_at(bytes, at).wire_name(name) == WireError::ok && name.size == 1;
}

// The sections after the header, checked entry by entry; `counts` (from
// the header) are not trusted, `reply.counts` gets what came whole.
WireError scan_body(std::span<const std::uint8_t> bytes, WireReader& in, const std::uint16_t (&counts)[4],
                    ReplyLayout& reply, std::uint8_t& extended_rcode) {
    // RFC 1035 4.1.2.
    reply.starts[0] = in.position();
    for (std::uint16_t i = 0; i < counts[0]; ++i) {
        PANTS_DNS_TRY(in.skip_name());
        PANTS_DNS_TRY(in.skip(4));  // QTYPE, QCLASS
        ++reply.counts[0];
    }
    // RFC 1035 4.1.3.
    RecordFields rr;
    for (int s = 1; s < 4; ++s) {
        reply.starts[s] = in.position();
        for (std::uint16_t i = 0; i < counts[s]; ++i) {
            PANTS_DNS_TRY(read_record(in, rr));
            if (rr.type == OPT) {
                // RFC 6891 6.1.1: at most one OPT, in the additional
                // section, owned by the root; anything else is malformed.
                if (s != 3 || reply.edns || !is_root(bytes, rr.owner_at)) return WireError::bad_edns;
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

// Calls `f(fields)` for each record of section `s` (1: answer, 2:
// authority, 3: additional), all of which scan_reply() checked.
template <class F>
void for_each_record(const Reply& reply, int s, F&& f) {
    WireReader in = reader_at(reply.wire(), reply.layout.starts[s]);
    RecordFields rr;
    for (std::uint16_t i = 0; i < reply.layout.counts[s]; ++i) {
        if (read_record(in, rr, true) != WireError::ok) return;  // cannot happen: scanned
        f(rr);
    }
}

// RFC 2181 8: a TTL with the top bit set is treated as zero.
std::uint32_t sane_ttl(std::uint32_t ttl) { return ttl > 0x7fffffffu ? 0 : ttl; }

// True if `name` is `zone` or lies below it: `zone`'s labels end `name`'s.
bool within(const WireName& name, const WireName& zone) noexcept {
    for (std::size_t p = 0; p < name.size; p += 1u + name.bytes[p]) {
        if (name.size - p == zone.size) return same_folded(name.bytes.data() + p, zone.bytes.data(), zone.size);
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
    WireName owner;
    for_each_record(reply, 2, [&](RecordFields& rr) {
        if (found || rr.type != SOA) return;
        if (reader_at(reply.wire(), rr.owner_at).wire_name(owner) != WireError::ok || !within(qname, owner)) return;
        // RFC 1035 3.3.13: MNAME, RNAME, SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM.
        std::uint32_t minimum = 0;
        rr.rdata.skip_checked_name();
        rr.rdata.skip_checked_name();
        if (rr.rdata.skip(16) != WireError::ok || rr.rdata.u32(minimum) != WireError::ok)
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
    if (in.header(reply.id, flags, counts) != WireError::ok) return failure(WireError::truncated);
    reply.qr = (flags & 0x8000) != 0;
    reply.tc = (flags & 0x0200) != 0;
    reply.rcode = flags & 0xF;
    std::uint8_t extended_rcode = 0;
    const WireError e = scan_body(bytes, in, counts, reply, extended_rcode);
    // RFC 2181 9: a truncated (TC) reply may stop mid-way; what came whole
    // is kept so the caller sees the header and knows to retry over TCP.
    if (e != WireError::ok && !(e == WireError::truncated && reply.tc)) return failure(e);
    reply.rcode = static_cast<std::uint16_t>(reply.rcode | extended_rcode << 4);
    return reply;
}

bool reply_matches(std::span<const std::uint8_t> bytes, const ReplyLayout& reply, const Expected& expected) {
    if (!reply.qr || reply.id != expected.id) return false;
    if (!expected.question_name) return true;
    // Without a question a reply proves nothing about our name: accept it
    // only as a failure that moves on and is never cached (RFC 1035 4.1.1:
    // a server that cannot parse a query may omit the question).
    if (reply.counts[0] == 0)
        return reply.rcode == DNS_FORMATERROR || reply.rcode == DNS_SERVERFAILURE ||
               reply.rcode == DNS_NOTIMPLEMENTED || reply.rcode == DNS_REFUSED;
    if (reply.counts[0] != 1) return false;
    WireReader in = reader_at(bytes, reply.starts[0]);
    bool same_name = false;
    std::uint16_t type = 0, klass = 0;
    if (in.name_equals(*expected.question_name, same_name) != WireError::ok || in.u16(type) != WireError::ok ||
        in.u16(klass) != WireError::ok)
        return false;  // cannot happen: scanned
    return same_name && type == expected.question_type && klass == expected.question_class;
}

Answer answer_from_reply(const Reply& reply, const WireName& qname, std::uint16_t qtype, std::uint32_t& cache_ttl) {
    Answer answer;
    answer.status = status_of_rcode(reply.layout.rcode);
    cache_ttl = 0;
    std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
    const std::span<const std::uint8_t> bytes = reply.wire();
    // Follow the chain from the question's name (RFC 1034 3.6.2); a CNAME
    // or ANY query takes the records at the name itself.
    const bool follow = qtype != CNAME && qtype != ANY;
    WireName current = qname;
    // Where `current` is written in the reply, if known: an owner that is
    // a pointer there (RFC 1035 4.1.4, as servers write them) is `current`
    // without comparing a byte. The question, if it is ours; then each
    // CNAME's RDATA.
    std::size_t current_at = 0;
    bool question_same = false;
    if (reply.layout.counts[0] != 0 &&
        reader_at(bytes, reply.layout.starts[0]).name_equals(current, question_same) == WireError::ok && question_same)
        current_at = reply.layout.starts[0];
    auto owned_by_current = [&](std::size_t at) {
        if (current_at != 0 && (bytes[at] & 0xC0) == 0xC0 &&
            (std::size_t(bytes[at] & 0x3F) << 8 | bytes[at + 1]) == current_at)
            return true;
        bool same = false;
        return reader_at(bytes, at).name_equals(current, same) == WireError::ok && same;
    };
    for (int links = 0; links <= 16; ++links) {
        bool has_next = false;
        RecordFields next;  // the first CNAME at `current`
        for_each_record(reply, 1, [&](const RecordFields& rr) {
            const bool wanted = rr.type == qtype || (qtype == ANY && rr.type != OPT);
            const bool link = follow && rr.type == CNAME && !has_next;
            if ((!wanted && !link) || !owned_by_current(rr.owner_at)) return;
            if (wanted) {
                answer.rdata.push_back(rdata_of(rr));
                ttl = std::min(ttl, sane_ttl(rr.ttl));
            } else {
                has_next = true;
                next = rr;
            }
        });
        if (!answer.rdata.empty() || !has_next || links == 16) break;
        ttl = std::min(ttl, sane_ttl(next.ttl));
        if (links == 0)
            answer.cname_chain.push_back(name_text(qname));
        else
            answer.cname_chain.push_back(answer.cname);
        current_at = next.rdata.position();
        WireReader again = next.rdata;
        if (next.rdata.name(answer.cname) != WireError::ok || again.wire_name(current) != WireError::ok)
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
