// Building DNS messages: fields, names (RFC 1035 4.1.4 compression) and
// the presentation form of names (RFC 1035 5.1 escapes, as dig prints them).
#include <pants/dns/detail/wire_writer.hpp>

namespace pants::dns::detail {

void WireWriter::u16(std::uint16_t v) {
    buf_.push_back(static_cast<std::uint8_t>(v >> 8));
    buf_.push_back(static_cast<std::uint8_t>(v));
}

void WireWriter::u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
}

void WireWriter::patch_u16(std::size_t at, std::uint16_t v) {
    buf_.at(at) = static_cast<std::uint8_t>(v >> 8);
    buf_.at(at + 1) = static_cast<std::uint8_t>(v);
}

WireError WireWriter::name(std::string_view presentation, bool compress) {
    std::vector<std::string> labels;
    if (auto e = parse_name(presentation, labels); e != WireError::ok) return e;
    // The wire form of each suffix, built from the end: suffix[i] = labels[i..].
    std::vector<std::string> suffix(labels.size() + 1);
    for (std::size_t i = labels.size(); i-- > 0;) {
        suffix[i].push_back(static_cast<char>(labels[i].size()));
        suffix[i] += labels[i];
        suffix[i] += suffix[i + 1];
    }
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (compress) {
            if (auto it = suffixes_.find(suffix[i]); it != suffixes_.end()) {
                u16(static_cast<std::uint16_t>(0xC000 | it->second));
                return WireError::ok;
            }
            // Pointers have 14 bits: later suffixes cannot be reached.
            if (buf_.size() < 0x4000) suffixes_.emplace(suffix[i], static_cast<std::uint16_t>(buf_.size()));
        }
        u8(static_cast<std::uint8_t>(labels[i].size()));
        bytes(std::span(reinterpret_cast<const std::uint8_t*>(labels[i].data()), labels[i].size()));
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
WireError parse_name(std::string_view text, std::vector<std::string>& labels) {
    labels.clear();
    if (text.empty()) return WireError::bad_name;
    if (text == ".") return WireError::ok;
    std::string label;
    std::size_t wire_length = 1;  // the root label
    bool ended_with_dot = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        ended_with_dot = false;
        if (c == '.') {
            if (label.empty()) return WireError::bad_name;  // empty label: "a..b", ".a"
            wire_length += 1 + label.size();
            labels.push_back(std::move(label));
            label.clear();
            ended_with_dot = true;
            continue;
        }
        if (c == '\\') {
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
        }
        label.push_back(c);
        if (label.size() > 63) return WireError::label_too_long;
    }
    if (!ended_with_dot) {
        wire_length += 1 + label.size();
        labels.push_back(std::move(label));
    }
    if (wire_length > 255) return WireError::name_too_long;
    return WireError::ok;
}

void append_escaped_label(std::string& out, std::span<const std::uint8_t> label) {
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
