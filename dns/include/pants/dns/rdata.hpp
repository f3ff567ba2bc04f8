// pants/dns/rdata.hpp: typed RDATA of resource records.
//
// Rdata is a std::variant: one struct per type the codec parses, and Raw
// (the RDLENGTH bytes, untouched) for every other type. Names inside RDATA
// are absolute presentation names with a trailing dot and dig's escapes
// ("mail.example.com.", "a\.b.example."), compression already resolved.
// Character-strings (TXT, HINFO, NAPTR, CAA value) hold their raw bytes,
// unescaped. Plain values: copy and compare freely, from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace pants::dns {

namespace rdata {

/// RDATA kept as bytes: every type without a struct below, A/AAAA outside
/// class IN, and anything a user wants sent verbatim. Prints as RFC 3597
/// `\# 4 0A000001`.
struct Raw {
    std::vector<std::uint8_t> bytes;
    bool operator==(const Raw&) const = default;
};

/// RFC 1035 3.4.1: an IPv4 address, network byte order.
struct A {
    std::array<std::uint8_t, 4> address{};
    bool operator==(const A&) const = default;
};

/// RFC 3596 2.2: an IPv6 address, network byte order.
struct AAAA {
    std::array<std::uint8_t, 16> address{};
    bool operator==(const AAAA&) const = default;
};

/// RFC 1035 3.3.11.
struct NS {
    std::string name;
    bool operator==(const NS&) const = default;
};

/// RFC 1035 3.3.1: the canonical name of the owner.
struct CNAME {
    std::string name;
    bool operator==(const CNAME&) const = default;
};

/// RFC 6672 2.1: the name that replaces the owner's suffix.
struct DNAME {
    std::string name;
    bool operator==(const DNAME&) const = default;
};

/// RFC 1035 3.3.12.
struct PTR {
    std::string name;
    bool operator==(const PTR&) const = default;
};

/// RFC 1035 3.3.9.
struct MX {
    std::uint16_t preference = 0;
    std::string exchange;
    bool operator==(const MX&) const = default;
};

/// RFC 1035 3.3.13.
struct SOA {
    std::string mname;
    std::string rname;
    std::uint32_t serial = 0;
    std::uint32_t refresh = 0;
    std::uint32_t retry = 0;
    std::uint32_t expire = 0;
    std::uint32_t minimum = 0;
    bool operator==(const SOA&) const = default;
};

/// RFC 2782.
struct SRV {
    std::uint16_t priority = 0;
    std::uint16_t weight = 0;
    std::uint16_t port = 0;
    std::string target;
    bool operator==(const SRV&) const = default;
};

/// RFC 1035 3.3.14: one or more character-strings, raw bytes each.
struct TXT {
    std::vector<std::string> strings;
    bool operator==(const TXT&) const = default;
};

/// RFC 1035 3.3.2.
struct HINFO {
    std::string cpu;
    std::string os;
    bool operator==(const HINFO&) const = default;
};

/// RFC 1035 3.3.7.
struct MINFO {
    std::string rmailbx;
    std::string emailbx;
    bool operator==(const MINFO&) const = default;
};

/// RFC 1183 2.2.
struct RP {
    std::string mbox;
    std::string txt;
    bool operator==(const RP&) const = default;
};

/// RFC 1183 1.
struct AFSDB {
    std::uint16_t subtype = 0;
    std::string hostname;
    bool operator==(const AFSDB&) const = default;
};

/// RFC 3403 4.1.
struct NAPTR {
    std::uint16_t order = 0;
    std::uint16_t preference = 0;
    std::string flags;
    std::string services;
    std::string regexp;
    std::string replacement;
    bool operator==(const NAPTR&) const = default;
};

/// RFC 8659 4.1. The tag is 1..255 bytes.
struct CAA {
    std::uint8_t flags = 0;
    std::string tag;
    std::string value;
    bool operator==(const CAA&) const = default;
};

/// RFC 4034 5.1.
struct DS {
    std::uint16_t key_tag = 0;
    std::uint8_t algorithm = 0;
    std::uint8_t digest_type = 0;
    std::vector<std::uint8_t> digest;
    bool operator==(const DS&) const = default;
};

/// RFC 4034 2.1.
struct DNSKEY {
    std::uint16_t flags = 0;
    std::uint8_t protocol = 0;
    std::uint8_t algorithm = 0;
    std::vector<std::uint8_t> public_key;
    bool operator==(const DNSKEY&) const = default;
};

/// RFC 1035 3.3.6: a host with the mailbox (obsolete, experimental).
struct MB {
    std::string name;
    bool operator==(const MB&) const = default;
};

/// RFC 1035 3.3.4: a mail destination (obsolete: MX replaced it).
struct MD {
    std::string name;
    bool operator==(const MD&) const = default;
};

/// RFC 1035 3.3.5: a mail forwarder (obsolete: MX replaced it).
struct MF {
    std::string name;
    bool operator==(const MF&) const = default;
};

/// RFC 1035 3.3.6: a mailbox in the mail group (experimental).
struct MG {
    std::string name;
    bool operator==(const MG&) const = default;
};

/// RFC 1035 3.3.8: the mailbox that renames the owner (experimental).
struct MR {
    std::string name;
    bool operator==(const MR&) const = default;
};

/// RFC 1035 3.4.2: the well-known services of a protocol at an address
/// (class IN only). Bit n of `bitmap` (bit 0 = the first byte's high bit)
/// is port n; at most 8192 bytes (port 65535).
struct WKS {
    std::array<std::uint8_t, 4> address{};
    std::uint8_t protocol = 0;  ///< IP protocol number: 6 TCP, 17 UDP
    std::vector<std::uint8_t> bitmap;
    bool operator==(const WKS&) const = default;
};

}  // namespace rdata

/// The RDATA of one record. The alternative must agree with the record's
/// type (rdata::MX for MX, ...); rdata::Raw goes with any type.
using Rdata = std::variant<rdata::Raw, rdata::A, rdata::AAAA, rdata::NS, rdata::CNAME, rdata::DNAME,
                           rdata::PTR, rdata::MX, rdata::SOA, rdata::SRV, rdata::TXT, rdata::HINFO,
                           rdata::MINFO, rdata::RP, rdata::AFSDB, rdata::NAPTR, rdata::CAA, rdata::DS,
                           rdata::DNSKEY, rdata::MB, rdata::MD, rdata::MF, rdata::MG, rdata::MR, rdata::WKS>;

/// The RR type an alternative belongs to; 0 for rdata::Raw (any type).
std::uint16_t rdata_type(const Rdata& data) noexcept;

/// RDATA in dig's presentation format: "10 mail.example.com.",
/// "\"v=spf1\" \"-all\"", "192.0.2.1 6 25 80" for WKS (ports by number),
/// "\\# 4 0A000001" for Raw.
std::string to_string(const Rdata& data);

}  // namespace pants::dns
