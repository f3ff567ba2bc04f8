// libFuzzer target for the resolver's in-place reply reader
// (dns/resolver_reply.*), checked against decode().
//
// For any bytes: scan_reply() must accept exactly what decode() accepts,
// fail with the same WireError, and agree on the header (id, QR, TC, full
// RCODE, OPT present) and on how many entries of each section came whole.
// For what both accept, reply_matches() must agree with the same match
// made on the decoded Message, and answer_from_reply() (wire form) must
// give the same Answer and cache TTL as the reference below, which follows
// the same rules (RFC 1034 3.6.2 chains, RFC 2308 5 negative TTLs, RFC
// 2181 8 TTLs) on the decoded Message with presentation-form names. The
// names asked: the question's, then each answer owner's (so chains that
// start mid-way are tried too), each with the question's type, A, CNAME
// and ANY.
// Build and run: fuzz/run.sh SECONDS fuzz_reply_scan
#include <pants/dns/detail/wire_writer.hpp>
#include <pants/dns/message.hpp>
#include <pants/dns/name.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "dns/resolver_core.hpp"
#include "dns/resolver_reply.hpp"

namespace {

using namespace pants::dns;
using detail::WireName;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_reply_scan: %s\n", what);
    std::abort();
}

std::uint32_t sane(std::uint32_t ttl) { return ttl > 0x7fffffffu ? 0 : ttl; }

// `zone`'s labels end `name`'s (both valid names), ASCII case folded.
bool within(const std::string& name, const std::string& zone) {
    WireName n, z;
    if (detail::name_to_wire(name, n) != WireError::ok || detail::name_to_wire(zone, z) != WireError::ok) return false;
    std::vector<std::string> nl, zl;
    for (auto [w, out] : {std::pair{&n, &nl}, std::pair{&z, &zl}})
        for (std::size_t p = 0; w->bytes[p] != 0; p += 1u + w->bytes[p]) {
            std::string label(reinterpret_cast<const char*>(&w->bytes[p + 1]), w->bytes[p]);
            for (char& c : label)
                if (c >= 'A' && c <= 'Z') c = char(c + 32);
            out->push_back(label);
        }
    if (zl.size() > nl.size()) return false;
    return std::equal(zl.rbegin(), zl.rend(), nl.rbegin());
}

// The answer Pants reports, computed on the decoded Message.
Answer reference(const Message& reply, const std::string& qname, std::uint16_t qtype, std::uint32_t& cache_ttl) {
    Answer answer;
    answer.status = detail::status_of_rcode(reply.rcode);
    cache_ttl = 0;
    std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
    const bool follow = qtype != CNAME && qtype != ANY;
    std::string current = qname;
    for (int links = 0; links <= 16; ++links) {
        const ResourceRecord* next = nullptr;
        for (const auto& rr : reply.answers) {
            if (!name_equal(rr.name, current)) continue;
            if (rr.type == qtype || (qtype == ANY && rr.type != OPT)) {
                answer.rdata.push_back(rr.data);
                ttl = std::min(ttl, sane(rr.ttl));
            } else if (follow && rr.type == CNAME && !next) {
                next = &rr;
            }
        }
        if (!answer.rdata.empty() || !next || links == 16) break;
        ttl = std::min(ttl, sane(next->ttl));
        answer.cname_chain.push_back(current);
        answer.cname = std::get<rdata::CNAME>(next->data).name;
        current = answer.cname;
    }
    if (answer.status == DNS_OK && !answer.rdata.empty()) {
        answer.ttl = cache_ttl = ttl;
    } else if (answer.status == DNS_OK || answer.status == DNS_NAMEERROR) {
        for (const auto& rr : reply.authority) {
            if (rr.type != SOA || !within(current, rr.name)) continue;
            answer.ttl = std::min(sane(rr.ttl), sane(std::get<rdata::SOA>(rr.data).minimum));
            break;
        }
        cache_ttl = answer.ttl;
    }
    return answer;
}

bool same(const Answer& a, const Answer& b) {
    return a.status == b.status && a.cname == b.cname && a.ttl == b.ttl && a.rdata == b.rdata &&
           a.cname_chain == b.cname_chain;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    auto layout = detail::scan_reply(bytes);
    auto message = decode(bytes);
    if (layout.has_value() != message.has_value()) fail("scan_reply and decode disagree on acceptance");
    if (!layout) {
        if (layout.error() != message.error()) fail("scan_reply and decode give different errors");
        return 0;
    }
    const Message& m = *message;
    const detail::ReplyLayout& l = *layout;
    if (l.id != m.id || l.qr != m.qr || l.tc != m.tc || l.rcode != m.rcode || l.edns != m.edns.has_value())
        fail("the header differs");
    if (l.counts[0] != m.questions.size() || l.counts[1] != m.answers.size() || l.counts[2] != m.authority.size() ||
        l.counts[3] != m.additional.size() + (m.edns ? 1 : 0))
        fail("the section counts differ");

    const detail::Reply reply{l, std::vector<std::uint8_t>(bytes.begin(), bytes.end())};
    if (!(reply.message() == message)) fail("Reply::message() is not decode()");

    std::vector<std::string> names;
    if (!m.questions.empty()) names.push_back(m.questions.front().name);
    for (const auto& rr : m.answers)
        if (names.size() < 4) names.push_back(rr.name);
    for (const auto& name : names) {
        WireName wire;
        if (detail::name_to_wire(name, wire) != WireError::ok) fail("a decoded name does not encode");
        // reply_matches against a question of that name, both ways.
        const std::uint16_t qtype = m.questions.empty() ? A : m.questions.front().type;
        const Question q{name, qtype, m.questions.empty() ? std::uint16_t(IN) : m.questions.front().klass};
        const bool want = m.qr && (m.questions.empty()
                                       ? (m.rcode == DNS_FORMATERROR || m.rcode == DNS_SERVERFAILURE ||
                                          m.rcode == DNS_NOTIMPLEMENTED || m.rcode == DNS_REFUSED)
                                       : m.questions.size() == 1 && m.questions[0].type == q.type &&
                                             m.questions[0].klass == q.klass && name_equal(m.questions[0].name, name));
        if (detail::reply_matches(bytes, l, detail::Expected{m.id, &wire, q.type, q.klass}) != want)
            fail("reply_matches differs from the match on the decoded message");
        for (std::uint16_t type : {qtype, std::uint16_t(A), std::uint16_t(CNAME), std::uint16_t(ANY)}) {
            std::uint32_t ttl_wire = 1, ttl_ref = 2;
            const Answer got = detail::answer_from_reply(reply, wire, type, ttl_wire);
            const Answer want_answer = reference(m, name, type, ttl_ref);
            if (!same(got, want_answer) || ttl_wire != ttl_ref) fail("answer_from_reply differs from the reference");
        }
    }
    return 0;
}
