// pants/dns/message.hpp: DNS messages and their wire format (RFC 1035 4).
//
// A pure codec, no I/O: encode_query() and encode() build the bytes a
// resolver sends (or a test server replies with); decode() turns any bytes
// received into a Message or a WireError, never reading out of bounds,
// whatever the input. Message is a plain value: copy it, compare it, touch
// it from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pants/dns/name.hpp>
#include <pants/dns/rdata.hpp>
#include <pants/dns/types.hpp>
#include <pants/result.hpp>

namespace pants::dns {

/// One entry of the question section (RFC 1035 4.1.2).
struct Question {
    std::string name;  ///< presentation form, "example.com."
    std::uint16_t type = A;
    std::uint16_t klass = IN;
    bool operator==(const Question&) const = default;
};

/// One resource record (RFC 1035 4.1.3). `data` holds typed RDATA for the
/// types in rdata.hpp, rdata::Raw for the rest.
struct ResourceRecord {
    std::string name;  ///< owner, presentation form, "example.com."
    std::uint16_t type = A;
    std::uint16_t klass = IN;
    std::uint32_t ttl = 0;
    Rdata data;
    bool operator==(const ResourceRecord&) const = default;
};

/// One EDNS option (RFC 6891 6.1.2), kept as bytes.
struct EdnsOption {
    std::uint16_t code = 0;
    std::vector<std::uint8_t> data;
    bool operator==(const EdnsOption&) const = default;
};

/// What the OPT pseudo-record carries (RFC 6891 6.1.3). The extended RCODE
/// bits are not here: they are folded into Message::rcode.
struct Edns {
    std::uint16_t udp_size = 1232;  ///< requestor's UDP payload size
    std::uint8_t version = 0;
    bool dnssec_ok = false;         ///< the DO bit (RFC 3225)
    std::uint16_t flags = 0;        ///< the other 15 Z bits, as received
    std::vector<EdnsOption> options;
    bool operator==(const Edns&) const = default;
};

/// A whole DNS message. Header counts are not stored: they are the sizes of
/// the sections (plus one in additional for the OPT record when `edns` is
/// set). The OPT record never appears in `additional`: decode() moves it
/// into `edns`, encode() writes it from there, last in the additional
/// section.
struct Message {
    std::uint16_t id = 0;
    bool qr = false;            ///< response
    std::uint8_t opcode = 0;    ///< 0 = QUERY
    bool aa = false;            ///< authoritative answer
    bool tc = false;            ///< truncated: retry over TCP
    bool rd = false;            ///< recursion desired
    bool ra = false;            ///< recursion available
    bool z = false;             ///< the reserved bit, kept for round trips
    bool ad = false;            ///< authentic data (RFC 4035 3.2.3)
    bool cd = false;            ///< checking disabled
    std::uint16_t rcode = 0;    ///< full RCODE: 4 header bits | EDNS extended bits << 4
    std::vector<Question> questions;
    std::vector<ResourceRecord> answers;
    std::vector<ResourceRecord> authority;
    std::vector<ResourceRecord> additional;
    std::optional<Edns> edns;
    bool operator==(const Message&) const = default;
};

/// The bytes of a standard query for `name`/`type` in class `klass`, with
/// an OPT record advertising `edns_udp_size` (none when it is 0).
Result<std::vector<std::uint8_t>> encode_query(std::uint16_t id, std::string_view name, std::uint16_t type,
                                               bool recursion_desired = true,
                                               std::uint16_t edns_udp_size = 1232, std::uint16_t klass = IN);

/// The bytes of any message. Names in the header sections and in the RDATA
/// of RFC 1035 types (NS, MD, MF, CNAME, SOA, MB, MG, MR, PTR, MINFO, MX)
/// are compressed (RFC 1035 4.1.4, RFC 3597 4); rdata::Raw is written
/// verbatim. Fails
/// (WireError) on a name that cannot be encoded, an Rdata alternative that
/// does not match its record type, or a message over 65535 bytes.
Result<std::vector<std::uint8_t>> encode(const Message& message);

/// Parses a message (RFC 1035 4.1, RFC 6891 for OPT). Fails with a
/// WireError on malformed input. A reply with TC set may end early: the
/// records that arrived whole are kept and the rest is dropped. Bytes after
/// the last record are ignored.
Result<Message> decode(std::span<const std::uint8_t> bytes);

/// One record as a line of dig's answer section, without newline:
/// "example.com.\t\t300\tIN\tMX\t10 mail.example.com.".
std::string to_string(const ResourceRecord& record);

/// One question as dig prints it: ";example.com.\t\t\tIN\tMX".
std::string to_string(const Question& question);

/// The whole message roughly as dig prints it (header, OPT pseudosection,
/// then each non-empty section), for logs and examples.
std::string to_string(const Message& message);

}  // namespace pants::dns
