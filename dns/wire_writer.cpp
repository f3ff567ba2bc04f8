// Building DNS messages: fields, names (RFC 1035 4.1.4 compression) and
// the presentation form of names (RFC 1035 5.1 escapes, as dig prints them).
#include <pants/dns/detail/wire_writer.hpp>

#include <algorithm>
#include <array>
#include <cstring>

namespace pants::dns::detail {

void WireWriter::patch_u16(std::size_t at, std::uint16_t v) {
    buf_.at(at) = static_cast<std::uint8_t>(v >> 8);
    buf_.at(at + 1) = static_cast<std::uint8_t>(v);
}

WireError WireWriter::name(std::string_view presentation, bool compress) {
    WireName wire;
    if (auto e = name_to_wire(presentation, wire); e != WireError::ok) return e;
    // Each label starts a suffix: wire.bytes[at..] (the root alone is not one).
    for (std::size_t at = 0; wire.bytes[at] != 0; at += 1 + wire.bytes[at]) {
        if (compress) {
            const std::string_view suffix(reinterpret_cast<const char*>(wire.bytes.data() + at), wire.size - at);
            if (auto it = suffixes_.find(suffix); it != suffixes_.end()) {
                u16(static_cast<std::uint16_t>(0xC000 | it->second));
                return WireError::ok;
            }
            // Pointers have 14 bits: later suffixes cannot be reached.
            if (buf_.size() < 0x4000) suffixes_.emplace(suffix, static_cast<std::uint16_t>(buf_.size()));
        }
        bytes(std::span(wire.bytes.data() + at, 1u + wire.bytes[at]));
    }
    u8(0);
    return WireError::ok;
}

WireError WireWriter::character_string(std::string_view s) {
    if (s.size() > 255) return WireError::bad_rdata;
    u8(static_cast<std::uint8_t>(s.size()));
    bytes(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
    return WireError::ok;
}

// RFC 1035 5.1: `\X` is X itself, `\DDD` the byte with decimal value DDD.
WireError name_to_wire(std::string_view text, WireName& out) {
    out.size = 0;
    if (text.empty()) return WireError::bad_name;
    std::size_t at = 0;      // where the current label's length byte goes
    std::size_t length = 0;  // of the current label
    // Past kMax the name is too long; scanning goes on (for bad_name and
    // label_too_long, which take precedence) without writing.
    auto put = [&](std::size_t i, std::uint8_t b) {
        if (i < WireName::kMax) out.bytes[i] = b;
    };
    if (text != ".") {
        bool ended_with_dot = false;
        for (std::size_t i = 0; i < text.size(); ++i) {
            char c = text[i];
            ended_with_dot = false;
            if (c == '.') {
                if (length == 0) return WireError::bad_name;  // empty label: "a..b", ".a"
                put(at, static_cast<std::uint8_t>(length));
                at += 1 + length;
                length = 0;
                ended_with_dot = true;
                continue;
            }
            if (c != '\\') {
                // The plain run up to the next dot or escape, in one go.
                std::size_t end = i + 1;
                while (end < text.size() && text[end] != '.' && text[end] != '\\') ++end;
                const std::size_t run = end - i;
                if (length + run > 63) return WireError::label_too_long;
                const std::size_t to = at + 1 + length;
                if (to + run <= WireName::kMax) std::memcpy(out.bytes.data() + to, text.data() + i, run);
                length += run;
                i = end - 1;
                continue;
            }
            // An escape: one byte.
            if (++i >= text.size()) return WireError::bad_name;
            c = text[i];
            if (c >= '0' && c <= '9') {
                if (i + 2 >= text.size()) return WireError::bad_name;
                int value = 0;
                for (std::size_t k = 0; k < 3; ++k) {
                    const char d = text[i + k];
                    if (d < '0' || d > '9') return WireError::bad_name;
                    value = value * 10 + (d - '0');
                }
                if (value > 255) return WireError::bad_name;
                c = static_cast<char>(value);
                i += 2;
            }
            put(at + 1 + length, static_cast<std::uint8_t>(c));
            if (++length > 63) return WireError::label_too_long;
        }
        if (!ended_with_dot) {
            put(at, static_cast<std::uint8_t>(length));
            at += 1 + length;
        }
    }
    if (at + 1 > WireName::kMax) return WireError::name_too_long;
    out.bytes[at] = 0;  // the root
    out.size = at + 1;
    return WireError::ok;
}

void write_query(MessageBytes& out, std::uint16_t id, const WireName& name, std::uint16_t type, std::uint16_t klass,
                 bool recursion_desired, std::uint16_t edns_udp_size) noexcept {
    // At most 12 + 255 + 4 + 11 bytes: always inline.
    static_assert(12 + WireName::kMax + 4 + 11 <= MessageBytes::kInline);
    const bool edns = edns_udp_size != 0;
    out.resize(12 + name.size + 4 + (edns ? 11 : 0));
    std::uint8_t* p = out.data();
    auto u16 = [&p](std::uint16_t v) {
        p[0] = static_cast<std::uint8_t>(v >> 8);
        p[1] = static_cast<std::uint8_t>(v);
        p += 2;
    };
    u16(id);
    u16(recursion_desired ? 0x0100 : 0);
    u16(1);            // QDCOUNT
    u16(0);            // ANCOUNT
    u16(0);            // NSCOUNT
    u16(edns ? 1 : 0);  // ARCOUNT: the OPT record
    std::memcpy(p, name.bytes.data(), name.size);
    p += name.size;
    u16(type);
    u16(klass);
    if (edns) {
        // RFC 6891 6.1.2: root owner, OPT, payload size, extended rcode 0,
        // version 0, no flags, no options.
        *p++ = 0;
        u16(OPT);
        u16(edns_udp_size);
        u16(0);
        u16(0);
        u16(0);
    }
}

namespace {
// Bytes dig prints as themselves: printable ASCII other than the specials.
// A table: every byte of every decoded name passes through here.
constexpr std::array<bool, 256> kPlain = [] {
    std::array<bool, 256> table{};
    for (int c = 0x21; c < 0x7F; ++c) table[std::size_t(c)] = true;
    for (const char c : {'"', '(', ')', '.', ';', '\\', '@', '$'}) table[std::uint8_t(c)] = false;
    return table;
}();
bool plain(std::uint8_t c) { return kPlain[c]; }
}  // namespace

std::string name_text(const WireName& name) {
    if (name.size <= 1) return ".";
    std::string text;
    text.reserve(name.size + 8);  // most names: no escapes, one allocation
    for (std::size_t p = 0; name.bytes[p] != 0; p += 1u + name.bytes[p]) {
        append_escaped_label(text, std::span(name.bytes).subspan(p + 1, name.bytes[p]));
        text.push_back('.');
    }
    return text;
}

void append_escaped_label(std::string& out, std::span<const std::uint8_t> label) {
    // Most labels need no escape: appended whole.
    if (std::all_of(label.begin(), label.end(), plain)) {
        out.append(reinterpret_cast<const char*>(label.data()), label.size());
        return;
    }
    for (const std::uint8_t c : label) {
        switch (c) {
        case '"': case '(': case ')': case '.': case ';': case '\\': case '@': case '$':
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
            break;
        default:
            if (c > 0x20 && c < 0x7F) {
                out.push_back(static_cast<char>(c));
            } else {
                out.push_back('\\');
                out.push_back(static_cast<char>('0' + c / 100));
                out.push_back(static_cast<char>('0' + c / 10 % 10));
                out.push_back(static_cast<char>('0' + c % 10));
            }
        }
    }
}

}  // namespace pants::dns::detail
