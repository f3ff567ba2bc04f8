// pants/dns/types.hpp: the vocabulary of pants::dns.
//
// Status codes (as in Pants' pants.dns, and the std::error_category that
// carries them), query types and classes with their presentation names
// ("MX" <-> 15, "TYPE65280" for a type without a name, as dig prints it).
// Everything here is a value or a pure function: safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace pants::dns {

/// Outcome of a DNS query, as Pants reports it. DNS_OK..DNS_REFUSED equal
/// the RCODE values of RFC 1035 4.1.1; the negative values are local.
/// DNS_TIMEOUT: queries went out and nothing (valid or not) came back in
/// time, or the network said the servers cannot be reached (connection
/// refused, host unreachable). DNS_NETWORKERROR (not in Python Pants): no
/// query could be asked because our own socket could not be opened
/// (descriptors or memory exhausted) or failed. send_message's callback
/// also gets the errno error behind either. A server that answered only
/// with bytes that are not a valid reply (garbage, or a TCP reply cut
/// short) gives DNS_FORMATERROR.
enum Status : int {
    DNS_NETWORKERROR = -2,
    DNS_TIMEOUT = -1,
    DNS_OK = 0,
    DNS_FORMATERROR = 1,
    DNS_SERVERFAILURE = 2,
    DNS_NAMEERROR = 3,
    DNS_NOTIMPLEMENTED = 4,
    DNS_REFUSED = 5,
};

/// The error category of Status values (name "pants.dns").
const std::error_category& category() noexcept;

/// An error_code for a Status; DNS_OK gives a code that tests false.
inline std::error_code make_error_code(Status s) noexcept { return {static_cast<int>(s), category()}; }

/// Why the wire codec rejected a message or a name. These are reported by
/// decode() and encode(); a resolver reports any of them as DNS_FORMATERROR.
enum class WireError : int {
    ok = 0,
    truncated,              ///< a field runs past the end of the message
    bad_pointer,            ///< compression pointer forward, to itself or out of bounds
    pointer_loop,           ///< too many compression pointers in one name
    label_too_long,         ///< label over 63 bytes (or reserved label type 0x40/0x80)
    name_too_long,          ///< name over 255 bytes in wire form
    bad_name,               ///< presentation name that cannot be encoded (empty label, bad escape)
    rdata_length_mismatch,  ///< RDATA does not fill exactly RDLENGTH bytes
    bad_rdata,              ///< RDATA that violates its type's format
    rdata_type_mismatch,    ///< encode: the Rdata alternative does not match the record type
    bad_edns,               ///< OPT record misplaced, duplicated or malformed (RFC 6891 6.1.1)
    message_too_long,       ///< encode: over 65535 bytes, or a count over 65535
    bad_rcode,              ///< encode: rcode over 15 without EDNS, or over 4095
};

/// The error category of WireError values (name "pants.dns.wire").
const std::error_category& wire_category() noexcept;

/// An error_code for a WireError; WireError::ok gives a code that tests false.
inline std::error_code make_error_code(WireError e) noexcept { return {static_cast<int>(e), wire_category()}; }

/// RR types (RFC 1035 3.2.2 and later RFCs), with the names Pants uses:
/// every one of Pants' 51 query types (A = 1 .. NSEC3PARAM = 51, IANA's
/// numbers) and a few newer ones. Unscoped on purpose: `dns::MX` reads like
/// Pants' `dns.MX` and converts to the uint16_t stored in records.
enum Type : std::uint16_t {
    A = 1,
    NS = 2,
    MD = 3,
    MF = 4,
    CNAME = 5,
    SOA = 6,
    MB = 7,
    MG = 8,
    MR = 9,
    NULL_ = 10,  // NULL in Pants; the trailing underscore because NULL is a C macro
    WKS = 11,
    PTR = 12,
    HINFO = 13,
    MINFO = 14,
    MX = 15,
    TXT = 16,
    RP = 17,
    AFSDB = 18,
    X25 = 19,
    ISDN = 20,
    RT = 21,
    NSAP = 22,
    NSAP_PTR = 23,  // printed "NSAP-PTR", as dig does
    SIG = 24,
    KEY = 25,
    PX = 26,
    GPOS = 27,
    AAAA = 28,
    LOC = 29,
    NXT = 30,
    EID = 31,
    NIMLOC = 32,
    SRV = 33,
    ATMA = 34,
    NAPTR = 35,
    KX = 36,
    CERT = 37,
    A6 = 38,
    DNAME = 39,
    SINK = 40,
    OPT = 41,
    APL = 42,
    DS = 43,
    SSHFP = 44,
    IPSECKEY = 45,
    RRSIG = 46,
    NSEC = 47,
    DNSKEY = 48,
    DHCID = 49,
    NSEC3 = 50,
    NSEC3PARAM = 51,
    TLSA = 52,
    SVCB = 64,
    HTTPS = 65,
    ANY = 255,
    CAA = 257,
};

/// RR classes (RFC 1035 3.2.4). Only IN matters in practice.
enum Class : std::uint16_t {
    IN = 1,
    CH = 3,
    HS = 4,
};

/// OPCODEs of the header (RFC 1035 4.1.1, RFC 1996, RFC 2136), with
/// Pants' names for the first three.
enum Opcode : std::uint8_t {
    OP_QUERY = 0,
    OP_IQUERY = 1,  ///< obsolete (RFC 3425)
    OP_STATUS = 2,
    OP_NOTIFY = 4,
    OP_UPDATE = 5,
};

/// Presentation name of a type: "MX", or "TYPE65280" when it has none.
std::string type_to_string(std::uint16_t type);

/// The type named "MX" / "mx" / "TYPE15"; nullopt when unknown or invalid.
std::optional<std::uint16_t> type_from_string(std::string_view name);

/// Presentation name of a class: "IN", or "CLASS7" when it has none.
std::string class_to_string(std::uint16_t klass);

/// The class named "IN" / "in" / "CLASS1"; nullopt when unknown or invalid.
std::optional<std::uint16_t> class_from_string(std::string_view name);

/// Name of a (12-bit, extended) RCODE as dig prints it: "NOERROR",
/// "NXDOMAIN", "BADVERS", ..., "RESERVED12" for one without a name.
std::string rcode_to_string(std::uint16_t rcode);

/// Name of an OPCODE as dig prints it: "QUERY", "NOTIFY", ..., "RESERVED3".
std::string opcode_to_string(std::uint8_t opcode);

}  // namespace pants::dns

template <>
struct std::is_error_code_enum<pants::dns::Status> : std::true_type {};
template <>
struct std::is_error_code_enum<pants::dns::WireError> : std::true_type {};
