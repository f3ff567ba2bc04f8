// pants/dns/detail/wire_writer.hpp: building DNS messages.
//
// Internal to pants::dns. Appends big-endian fields and names to a byte
// vector, compressing names against the suffixes it has already written
// (RFC 1035 4.1.4).
#pragma once

#include <algorithm>
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

/// Bytes held inline up to N, on the heap past that: holding them costs
/// no allocation in the common case, and moving them copies only the bytes
/// held.
template <std::size_t N>
class InlineBytes {
public:
    static constexpr std::size_t kInline = N;

    InlineBytes() = default;
    InlineBytes(std::span<const std::uint8_t> bytes) { assign(bytes); }
    InlineBytes(const std::vector<std::uint8_t>& bytes) { assign(bytes); }
    InlineBytes(const InlineBytes& other) { assign(other.view()); }
    InlineBytes(InlineBytes&& other) noexcept { take(other); }
    InlineBytes& operator=(const InlineBytes& other) {
        if (this != &other) assign(other.view());
        return *this;
    }
    InlineBytes& operator=(InlineBytes&& other) noexcept {
        if (this != &other) take(other);
        return *this;
    }

    std::span<const std::uint8_t> view() const noexcept {
        return size_ <= N ? std::span<const std::uint8_t>(inline_.data(), size_) : std::span<const std::uint8_t>(heap_);
    }
    std::size_t size() const noexcept { return size_; }
    /// The bytes, to write or patch in place.
    std::uint8_t* data() noexcept { return size_ <= N ? inline_.data() : heap_.data(); }
    /// n bytes, the first min(n, size()) kept, the rest unspecified.
    void resize(std::size_t n) {
        if (n <= N) {
            if (size_ > N) std::copy(heap_.begin(), heap_.begin() + std::ptrdiff_t(n), inline_.begin());
            heap_.clear();
        } else {
            if (size_ <= N) heap_.assign(inline_.begin(), inline_.begin() + std::ptrdiff_t(size_));
            heap_.resize(n);
        }
        size_ = n;
    }

private:
    void assign(std::span<const std::uint8_t> bytes) {
        size_ = bytes.size();
        if (size_ <= N) {
            std::copy(bytes.begin(), bytes.end(), inline_.begin());
            heap_.clear();
        } else {
            heap_.assign(bytes.begin(), bytes.end());
        }
    }
    void take(InlineBytes& other) noexcept {
        size_ = other.size_;
        if (size_ <= N)
            std::copy(other.inline_.begin(), other.inline_.begin() + std::ptrdiff_t(size_), inline_.begin());
        else
            heap_ = std::move(other.heap_);
    }

    std::size_t size_ = 0;
    std::array<std::uint8_t, N> inline_;
    std::vector<std::uint8_t> heap_;
};

/// A message's bytes, a query going out or a reply coming in: inline up to
/// 512 bytes, which every query the resolver builds and almost every UDP
/// reply (RFC 1035 4.2.1) fit.
using MessageBytes = InlineBytes<512>;

/// Converts a presentation name (RFC 1035 5.1: `\X` is X, `\DDD` a byte)
/// to wire form, without allocating. Checks RFC 1035 2.3.4 limits: labels
/// <= 63 bytes, the whole name <= 255 bytes in wire form.
[[nodiscard]] WireError name_to_wire(std::string_view presentation, WireName& out);

/// Writes a query (RFC 1035 4.1.1, 4.1.2) into `out`, inline: the header
/// with `id` (RD set if `recursion_desired`), the one question, and when
/// `edns_udp_size` is not 0 an OPT record without options (RFC 6891
/// 6.1.2), last and alone in the additional section.
void write_query(MessageBytes& out, std::uint16_t id, const WireName& name, std::uint16_t type, std::uint16_t klass,
                 bool recursion_desired, std::uint16_t edns_udp_size) noexcept;

/// The presentation form of a name in wire form: labels escaped as dig
/// does, each followed by a dot ("." alone for the root).
std::string name_text(const WireName& name);

/// Appends one raw label in presentation form, escaped as dig does.
void append_escaped_label(std::string& out, std::span<const std::uint8_t> label);

}  // namespace pants::dns::detail
