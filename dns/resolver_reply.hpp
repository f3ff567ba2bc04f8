// A name server's reply as the resolver uses it (internal): checked once as
// decode() checks a message, then read in place, straight from the wire.
//
// decode() builds a Message with a std::string for every name and a typed
// Rdata for every record; a resolver asking for A or AAAA needs the header,
// the question (to match the query) and the few records at the CNAME chain
// from its name. Reply keeps the bytes and where each section starts;
// names are compared in wire form (RFC 1035 4.1.4 compression followed,
// ASCII case folded, RFC 4343), and only what ends up in the Answer is
// built. A raw send_message() caller still gets the full decode() of the
// same bytes, which accepts exactly the replies scan_reply() accepts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <pants/dns/detail/wire_writer.hpp>
#include <pants/dns/message.hpp>
#include <pants/dns/resolver.hpp>
#include <pants/result.hpp>

namespace pants::dns::detail {

/// What scan_reply() learnt of a message: its header and where each section
/// starts. Offsets are into the scanned bytes.
struct ReplyLayout {
    std::uint16_t id = 0;
    bool qr = false;
    bool tc = false;
    bool edns = false;        ///< an OPT record came (RFC 6891)
    std::uint16_t rcode = 0;  ///< 4 header bits | EDNS extended bits << 4
    /// Entries that arrived whole per section: question, answer, authority,
    /// additional (fewer than the header says only in a TC reply).
    std::uint16_t counts[4] = {};
    std::size_t starts[4] = {};  ///< offset of each section's first entry
};

/// Checks `bytes` as decode() would (RFC 1035 4.1, RFC 6891 6.1 for OPT):
/// the same messages are accepted and the same WireError given for the
/// rest, but nothing is built. A TC reply may stop mid-way (RFC 2181 9).
Result<ReplyLayout> scan_reply(std::span<const std::uint8_t> bytes);

/// A reply that scan_reply() accepted, with its own copy of the bytes.
struct Reply {
    ReplyLayout layout;
    MessageBytes bytes;

    std::span<const std::uint8_t> wire() const noexcept { return bytes.view(); }
    /// The full decode() of the same bytes (for raw send_message callers).
    Result<Message> message() const { return decode(bytes.view()); }
};

/// What a reply must echo to be accepted (RFC 5452 9.1: id, question;
/// the source address is checked by the socket).
struct Expected {
    std::uint16_t id = 0;
    /// The question's name in wire form; null: a raw message without a
    /// question. Points into the Lookup, which outlives its Exchange.
    const WireName* question_name = nullptr;
    std::uint16_t question_type = 0;
    std::uint16_t question_class = 0;
};

/// True when the reply answers the query described by `expected`: a
/// response (QR set) with the same id and the same question (type, class,
/// name compared case-insensitively, RFC 4343). An error reply with no
/// question section (some servers answer FORMERR that way) is accepted on
/// the id alone.
bool reply_matches(std::span<const std::uint8_t> bytes, const ReplyLayout& reply, const Expected& expected);

/// What a reply says about (qname, qtype) as Pants reports it: the CNAME
/// chain followed from qname (at most 16 links, RFC 1034 3.6.2), the
/// records of qtype at its end, the smallest TTL among them. `qname` is
/// the question's name in wire form; the chain's first link is its
/// presentation form (name_text), however it was spelt when asked.
/// `cache_ttl` gets how long the answer may be cached:
/// that TTL, or for NXDOMAIN/NODATA the negative TTL of RFC 2308 5 (min of
/// the SOA record's TTL and its MINIMUM), 0 when the reply has no SOA for
/// a zone above the name or the answer must not be cached.
Answer answer_from_reply(const Reply& reply, const WireName& qname, std::uint16_t qtype, std::uint32_t& cache_ttl);

}  // namespace pants::dns::detail
