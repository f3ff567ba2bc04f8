// Status and WireError categories; names of types, classes, rcodes, opcodes.
#include <pants/dns/types.hpp>

#include <array>
#include <charconv>
#include <utility>

namespace pants::dns {

namespace {

class StatusCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "pants.dns"; }
    std::string message(int value) const override {
        switch (value) {
        case DNS_NETWORKERROR: return "DNS query failed: socket error, no server could be asked";
        case DNS_TIMEOUT: return "DNS query timed out";
        case DNS_OK: return "success";
        case DNS_FORMATERROR: return "DNS format error";
        case DNS_SERVERFAILURE: return "DNS server failure";
        case DNS_NAMEERROR: return "DNS name does not exist";
        case DNS_NOTIMPLEMENTED: return "DNS query not implemented by server";
        case DNS_REFUSED: return "DNS query refused";
        default: return "DNS status " + std::to_string(value);
        }
    }
};

class WireCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "pants.dns.wire"; }
    std::string message(int value) const override {
        switch (static_cast<WireError>(value)) {
        case WireError::ok: return "success";
        case WireError::truncated: return "DNS message truncated";
        case WireError::bad_pointer: return "DNS compression pointer forward or out of bounds";
        case WireError::pointer_loop: return "DNS compression pointer loop";
        case WireError::label_too_long: return "DNS label longer than 63 bytes";
        case WireError::name_too_long: return "DNS name longer than 255 bytes";
        case WireError::bad_name: return "invalid DNS name";
        case WireError::rdata_length_mismatch: return "DNS RDATA length does not match its contents";
        case WireError::bad_rdata: return "malformed DNS RDATA";
        case WireError::rdata_type_mismatch: return "DNS RDATA does not match the record type";
        case WireError::bad_edns: return "malformed or misplaced EDNS OPT record";
        case WireError::message_too_long: return "DNS message longer than 65535 bytes";
        case WireError::bad_rcode: return "DNS RCODE does not fit the message";
        }
        return "DNS wire error " + std::to_string(value);
    }
};

// One table for both directions; RFC 1035 3.2.2 and later RFCs, the
// mnemonics of IANA's registry (which dig prints).
constexpr std::array<std::pair<std::uint16_t, std::string_view>, 56> kTypes{{
    {1, "A"},         {2, "NS"},         {3, "MD"},       {4, "MF"},       {5, "CNAME"},     {6, "SOA"},
    {7, "MB"},        {8, "MG"},         {9, "MR"},       {10, "NULL"},    {11, "WKS"},      {12, "PTR"},
    {13, "HINFO"},    {14, "MINFO"},     {15, "MX"},      {16, "TXT"},     {17, "RP"},       {18, "AFSDB"},
    {19, "X25"},      {20, "ISDN"},      {21, "RT"},      {22, "NSAP"},    {23, "NSAP-PTR"}, {24, "SIG"},
    {25, "KEY"},      {26, "PX"},        {27, "GPOS"},    {28, "AAAA"},    {29, "LOC"},      {30, "NXT"},
    {31, "EID"},      {32, "NIMLOC"},    {33, "SRV"},     {34, "ATMA"},    {35, "NAPTR"},    {36, "KX"},
    {37, "CERT"},     {38, "A6"},        {39, "DNAME"},   {40, "SINK"},    {41, "OPT"},      {42, "APL"},
    {43, "DS"},       {44, "SSHFP"},     {45, "IPSECKEY"}, {46, "RRSIG"},  {47, "NSEC"},     {48, "DNSKEY"},
    {49, "DHCID"},    {50, "NSEC3"},     {51, "NSEC3PARAM"}, {52, "TLSA"}, {64, "SVCB"},     {65, "HTTPS"},
    {255, "ANY"},     {257, "CAA"},
}};

constexpr std::array<std::pair<std::uint16_t, std::string_view>, 5> kClasses{{
    {1, "IN"}, {3, "CH"}, {4, "HS"}, {254, "NONE"}, {255, "ANY"},
}};

bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 32);
        if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 32);
        if (x != y) return false;
    }
    return true;
}

// RFC 3597 5: "TYPE" or "CLASS" followed by a decimal number.
std::optional<std::uint16_t> generic_number(std::string_view text, std::string_view prefix) {
    if (text.size() <= prefix.size() || !iequal(text.substr(0, prefix.size()), prefix)) return std::nullopt;
    std::string_view digits = text.substr(prefix.size());
    std::uint16_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return value;
}

template <std::size_t N>
std::optional<std::uint16_t> lookup(const std::array<std::pair<std::uint16_t, std::string_view>, N>& table,
                                    std::string_view name, std::string_view prefix) {
    for (const auto& [value, text] : table)
        if (iequal(text, name)) return value;
    return generic_number(name, prefix);
}

}  // namespace

const std::error_category& category() noexcept {
    static const StatusCategory instance;
    return instance;
}

const std::error_category& wire_category() noexcept {
    static const WireCategory instance;
    return instance;
}

std::string type_to_string(std::uint16_t type) {
    for (const auto& [value, text] : kTypes)
        if (value == type) return std::string(text);
    return "TYPE" + std::to_string(type);
}

std::optional<std::uint16_t> type_from_string(std::string_view name) {
    // Pants spells type 23 NSAP_PTR (a Python name); IANA and dig NSAP-PTR.
    if (iequal(name, "NSAP_PTR")) return NSAP_PTR;
    return lookup(kTypes, name, "TYPE");
}

std::string class_to_string(std::uint16_t klass) {
    for (const auto& [value, text] : kClasses)
        if (value == klass) return std::string(text);
    return "CLASS" + std::to_string(klass);
}

std::optional<std::uint16_t> class_from_string(std::string_view name) { return lookup(kClasses, name, "CLASS"); }

std::string rcode_to_string(std::uint16_t rcode) {
    // RFC 6895 2.3; the names dig prints.
    static constexpr std::array<std::string_view, 12> names{
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RESERVED11"};
    if (rcode < names.size()) return std::string(names[rcode]);
    if (rcode == 16) return "BADVERS";
    if (rcode == 23) return "BADCOOKIE";
    return "RESERVED" + std::to_string(rcode);
}

std::string opcode_to_string(std::uint8_t opcode) {
    switch (opcode) {
    case OP_QUERY: return "QUERY";
    case OP_IQUERY: return "IQUERY";
    case OP_STATUS: return "STATUS";
    case OP_NOTIFY: return "NOTIFY";
    case OP_UPDATE: return "UPDATE";
    default: return "RESERVED" + std::to_string(opcode);
    }
}

}  // namespace pants::dns
