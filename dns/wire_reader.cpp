// Bounds-checked reading of DNS messages; names per RFC 1035 4.1.4.
#include <pants/dns/detail/wire_reader.hpp>
#include <pants/dns/detail/wire_writer.hpp>

#include <cstring>

namespace pants::dns::detail {

// RFC 1035 4.1.4: message compression. A name is a sequence of labels ending
// with the root label or with a pointer to a suffix written earlier. We
// require every pointer to land strictly before the lowest offset this name
// has visited so far: real encoders only point back at names already
// written, and it makes loops impossible (each hop goes further back).
// A pointer to or past itself is bad_pointer; one that goes back but into
// bytes this name already covered (the start of a cycle) is pointer_loop.
bool same_folded(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) noexcept {
    if (std::memcmp(a, b, n) == 0) return true;  // the common case: a reply echoes our bytes
    auto lower = [](std::uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<std::uint8_t>(c + 32) : c; };
    for (std::size_t i = 0; i < n; ++i)
        if (a[i] != b[i] && lower(a[i]) != lower(b[i])) return false;
    return true;
}

template <class Sink>
WireError WireReader::walk_name(Sink& sink) noexcept {
    // A name has at most 127 labels; more hops than that cannot be a name.
    constexpr int max_hops = 127;
    std::size_t p = pos_;
    std::size_t limit = end_;    // inline labels stay inside this reader
    std::size_t lowest = pos_;   // lowest offset visited
    std::size_t resume = 0;      // where the reader continues after the first pointer
    std::size_t wire_length = 0; // RFC 1035 2.3.4: at most 255 bytes
    int hops = 0;
    for (;;) {
        if (p >= limit) return WireError::truncated;
        const std::uint8_t len = msg_[p];
        if ((len & 0xC0) == 0xC0) {
            if (p + 1 >= limit) return WireError::truncated;
            const std::size_t target = static_cast<std::size_t>(len & 0x3F) << 8 | msg_[p + 1];
            if (target >= p || target >= msg_.size()) return WireError::bad_pointer;
            if (target >= lowest || ++hops > max_hops) return WireError::pointer_loop;
            if (resume == 0) resume = p + 2;
            lowest = target;
            p = target;
            limit = msg_.size();  // the suffix lies elsewhere in the message
            continue;
        }
        // 0x40 (RFC 6891 extended label) and 0x80 are not labels we accept;
        // read as lengths they would be 64..191, over the 63 of RFC 1035 2.3.4.
        if (len & 0xC0) return WireError::label_too_long;
        if (wire_length + 1u + len > WireName::kMax) return WireError::name_too_long;
        if (len != 0 && limit - p - 1 < len) return WireError::truncated;
        // The length byte and the label, at `wire_length` in the name
        // laid out uncompressed.
        sink(msg_.data() + p, wire_length, 1u + len);
        wire_length += 1u + len;
        if (len == 0) break;
        p += 1u + len;
    }
    pos_ = resume != 0 ? resume : p + 1;
    return WireError::ok;
}

WireError WireReader::wire_name(WireName& out) noexcept {
    auto copy = [&](const std::uint8_t* label, std::size_t at, std::size_t n) {
        std::memcpy(out.bytes.data() + at, label, n);
        out.size = at + n;
    };
    return walk_name(copy);
}

WireError WireReader::skip_name() noexcept {
    auto ignore = [](const std::uint8_t*, std::size_t, std::size_t) {};
    return walk_name(ignore);
}

WireError WireReader::name_equals(const WireName& other, bool& equal) noexcept {
    // The common case, a reply echoing our question: the name written out
    // whole, byte for byte as `other`. `other` is a checked name, so these
    // bytes are one too (labels of at most 63, the root at the end): one
    // memcmp instead of a walk.
    if (other.size != 0 && remaining() >= other.size &&
        std::memcmp(msg_.data() + pos_, other.bytes.data(), other.size) == 0) {
        pos_ += other.size;
        equal = true;
        return WireError::ok;
    }
    // RFC 4343: ASCII case folded; a length byte (at most 63) is never a
    // letter, so the name compares as one string of bytes.
    equal = true;
    auto compare = [&](const std::uint8_t* label, std::size_t at, std::size_t n) {
        if (equal && (at + n > other.size || !same_folded(label, other.bytes.data() + at, n))) equal = false;
    };
    // The root label is compared too: equal only if `other` ends there.
    return walk_name(compare);
}


WireError WireReader::name(std::string& out) {
    WireName wire;
    if (WireError e = wire_name(wire); e != WireError::ok) return e;
    out = name_text(wire);
    return WireError::ok;
}

WireError WireReader::character_string(std::string& out) {
    std::uint8_t len = 0;
    if (remaining() < 1 || remaining() < 1u + msg_[pos_]) return WireError::truncated;
    (void)u8(len);
    out.assign(reinterpret_cast<const char*>(msg_.data() + pos_), len);
    pos_ += len;
    return WireError::ok;
}

}  // namespace pants::dns::detail
