// pants/dns/detail/wire_writer.hpp: building DNS messages.
//
// Internal to pants::dns. Appends big-endian fields and names to a byte
// vector, compressing names against the suffixes it has already written
// (RFC 1035 4.1.4).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <pants/dns/types.hpp>

namespace pants::dns::detail {

class WireWriter {
public:
    void reserve(std::size_t n) { buf_.reserve(n); }
    void u8(std::uint8_t v) { buf_.push_back(v); }
    // Inline: a query is mostly 16-bit fields.
    void u16(std::uint16_t v) {
        buf_.push_back(static_cast<std::uint8_t>(v >> 8));
        buf_.push_back(static_cast<std::uint8_t>(v));
    }
    void u32(std::uint32_t v) {
        u16(static_cast<std::uint16_t>(v >> 16));
        u16(static_cast<std::uint16_t>(v));
    }
    void bytes(std::span<const std::uint8_t> b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
    /// Overwrites two bytes already written (counts, RDLENGTH).
    void patch_u16(std::size_t at, std::uint16_t v);

    /// A presentation name. With `compress`, reuses a suffix written before
    /// (exact bytes: compression never changes a name's case) and offers its
    /// own suffixes to later names; without, writes it whole and offers
    /// nothing (RFC 3597 4: names in RDATA a receiver may not know).
    [[nodiscard]] WireError name(std::string_view presentation, bool compress);
    /// A <character-string>; bad_rdata when over 255 bytes.
    [[nodiscard]] WireError character_string(std::string_view s);

    std::size_t size() const noexcept { return buf_.size(); }
    std::vector<std::uint8_t> take() { return std::move(buf_); }

private:
    // Looked up by string_view (no key built per lookup).
    struct SuffixHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    std::vector<std::uint8_t> buf_;
    // Wire form of a suffix -> offset.
    std::unordered_map<std::string, std::uint16_t, SuffixHash, std::equal_to<>> suffixes_;
};

/// A name in wire form (RFC 1035 3.1): length-prefixed labels, then the
/// root's zero byte; escapes resolved.
struct WireName {
    static constexpr std::size_t kMax = 255;  // RFC 1035 2.3.4
    std::array<std::uint8_t, kMax> bytes;
    std::size_t size = 0;  ///< bytes used, the root byte included
    std::span<const std::uint8_t> view() const noexcept { return {bytes.data(), size}; }
};

/// Converts a presentation name (RFC 1035 5.1: `\X` is X, `\DDD` a byte)
/// to wire form, without allocating. Checks RFC 1035 2.3.4 limits: labels
/// <= 63 bytes, the whole name <= 255 bytes in wire form.
[[nodiscard]] WireError name_to_wire(std::string_view presentation, WireName& out);

/// Appends one raw label in presentation form, escaped as dig does.
void append_escaped_label(std::string& out, std::span<const std::uint8_t> label);

}  // namespace pants::dns::detail
