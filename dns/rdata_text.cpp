// RDATA in dig's presentation format (RFC 1035 5.1; RFC 3597 5 for Raw).
#include <pants/dns/rdata.hpp>

#include <arpa/inet.h>

#include <span>

namespace pants::dns {

namespace {

// dig breaks long hex and base64 fields into words of this many characters
// (BIND's default split width for one-line output).
constexpr std::size_t kWordLength = 56;

// RFC 1035 5.1 <character-string> in quotes, escaped as BIND's txt_totext.
void append_quoted(std::string& out, std::string_view s) {
    out.push_back('"');
    for (const unsigned char c : s) {
        if (c < 0x20 || c >= 0x7F) {
            out.push_back('\\');
            out.push_back(static_cast<char>('0' + c / 100));
            out.push_back(static_cast<char>('0' + c / 10 % 10));
            out.push_back(static_cast<char>('0' + c % 10));
        } else {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
}

void append_words(std::string& out, const std::string& text) {
    for (std::size_t i = 0; i < text.size(); i += kWordLength) {
        if (i != 0) out.push_back(' ');
        out.append(text, i, kWordLength);
    }
}

std::string hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string s;
    for (auto b : bytes) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 0xF]);
    }
    return s;
}

std::string base64(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string s;
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const unsigned v = bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
        for (int k = 18; k >= 0; k -= 6) s.push_back(digits[v >> k & 0x3F]);
    }
    if (bytes.size() - i == 1) {
        const unsigned v = bytes[i] << 16;
        s += {digits[v >> 18 & 0x3F], digits[v >> 12 & 0x3F], '=', '='};
    } else if (bytes.size() - i == 2) {
        const unsigned v = bytes[i] << 16 | bytes[i + 1] << 8;
        s += {digits[v >> 18 & 0x3F], digits[v >> 12 & 0x3F], digits[v >> 6 & 0x3F], '='};
    }
    return s;
}

std::string address(int family, const void* bytes) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, bytes, text, sizeof text);
    return text;
}

struct Printer {
    std::string operator()(const rdata::Raw& r) const {
        // RFC 3597 5: \# <length> <hex>
        std::string out = "\\# " + std::to_string(r.bytes.size());
        if (!r.bytes.empty()) {
            out.push_back(' ');
            append_words(out, hex(r.bytes));
        }
        return out;
    }
    std::string operator()(const rdata::A& r) const { return address(AF_INET, r.address.data()); }
    std::string operator()(const rdata::AAAA& r) const { return address(AF_INET6, r.address.data()); }
    std::string operator()(const rdata::NS& r) const { return r.name; }
    std::string operator()(const rdata::CNAME& r) const { return r.name; }
    std::string operator()(const rdata::DNAME& r) const { return r.name; }
    std::string operator()(const rdata::PTR& r) const { return r.name; }
    std::string operator()(const rdata::MX& r) const { return std::to_string(r.preference) + " " + r.exchange; }
    std::string operator()(const rdata::SOA& r) const {
        return r.mname + " " + r.rname + " " + std::to_string(r.serial) + " " + std::to_string(r.refresh) + " " +
               std::to_string(r.retry) + " " + std::to_string(r.expire) + " " + std::to_string(r.minimum);
    }
    std::string operator()(const rdata::SRV& r) const {
        return std::to_string(r.priority) + " " + std::to_string(r.weight) + " " + std::to_string(r.port) + " " +
               r.target;
    }
    std::string operator()(const rdata::TXT& r) const {
        std::string out;
        for (const auto& s : r.strings) {
            if (!out.empty()) out.push_back(' ');
            append_quoted(out, s);
        }
        return out;
    }
    std::string operator()(const rdata::HINFO& r) const {
        std::string out;
        append_quoted(out, r.cpu);
        out.push_back(' ');
        append_quoted(out, r.os);
        return out;
    }
    std::string operator()(const rdata::MINFO& r) const { return r.rmailbx + " " + r.emailbx; }
    std::string operator()(const rdata::RP& r) const { return r.mbox + " " + r.txt; }
    std::string operator()(const rdata::AFSDB& r) const { return std::to_string(r.subtype) + " " + r.hostname; }
    std::string operator()(const rdata::NAPTR& r) const {
        std::string out = std::to_string(r.order) + " " + std::to_string(r.preference) + " ";
        append_quoted(out, r.flags);
        out.push_back(' ');
        append_quoted(out, r.services);
        out.push_back(' ');
        append_quoted(out, r.regexp);
        return out + " " + r.replacement;
    }
    std::string operator()(const rdata::CAA& r) const {
        std::string out = std::to_string(r.flags) + " " + r.tag + " ";
        append_quoted(out, r.value);
        return out;
    }
    std::string operator()(const rdata::DS& r) const {
        std::string out = std::to_string(r.key_tag) + " " + std::to_string(r.algorithm) + " " +
                          std::to_string(r.digest_type);
        if (!r.digest.empty()) {
            out.push_back(' ');
            append_words(out, hex(r.digest));
        }
        return out;
    }
    std::string operator()(const rdata::DNSKEY& r) const {
        std::string out = std::to_string(r.flags) + " " + std::to_string(r.protocol) + " " +
                          std::to_string(r.algorithm);
        if (!r.public_key.empty()) {
            out.push_back(' ');
            append_words(out, base64(r.public_key));
        }
        return out;
    }
    std::string operator()(const rdata::MB& r) const { return r.name; }
    std::string operator()(const rdata::MD& r) const { return r.name; }
    std::string operator()(const rdata::MF& r) const { return r.name; }
    std::string operator()(const rdata::MG& r) const { return r.name; }
    std::string operator()(const rdata::MR& r) const { return r.name; }
    std::string operator()(const rdata::WKS& r) const {
        // As BIND prints it: address, protocol number, then each port whose
        // bit is set, by number.
        std::string out = address(AF_INET, r.address.data()) + " " + std::to_string(r.protocol);
        for (std::size_t i = 0; i < r.bitmap.size(); ++i)
            for (int bit = 0; bit < 8; ++bit)
                if (r.bitmap[i] & (0x80 >> bit)) out += " " + std::to_string(i * 8 + std::size_t(bit));
        return out;
    }
};

}  // namespace

std::string to_string(const Rdata& data) { return std::visit(Printer{}, data); }

}  // namespace pants::dns
