// pants/dns/detail/wire_reader.hpp: bounds-checked reading of DNS messages.
//
// Internal to pants::dns (c-ares' ares__buf in spirit): every fetch checks
// the bounds and returns a WireError; on failure nothing is consumed and the
// output is left unspecified. A reader sees the whole message (compression
// pointers may point anywhere before them) but reads inline data only up
// to its end, so a sub-reader bounds one RDATA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <pants/dns/types.hpp>
#include <pants/dns/detail/wire_writer.hpp>

namespace pants::dns::detail {

/// True if the n bytes at a and b are equal but for ASCII case (RFC 4343).
bool same_folded(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) noexcept;

class WireReader {
public:
    /// A reader over the whole of `message`, at offset 0.
    explicit WireReader(std::span<const std::uint8_t> message) noexcept
        : msg_(message), pos_(0), end_(message.size()) {}

    std::size_t position() const noexcept { return pos_; }
    std::size_t remaining() const noexcept { return end_ - pos_; }
    bool at_end() const noexcept { return pos_ == end_; }

    // The fixed-size fetches are inline: a reply is mostly 16-bit fields.
    [[nodiscard]] WireError u8(std::uint8_t& out) noexcept {
        if (remaining() < 1) return WireError::truncated;
        out = msg_[pos_++];
        return WireError::ok;
    }
    /// Network byte order.
    [[nodiscard]] WireError u16(std::uint16_t& out) noexcept {
        if (remaining() < 2) return WireError::truncated;
        out = static_cast<std::uint16_t>(msg_[pos_] << 8 | msg_[pos_ + 1]);
        pos_ += 2;
        return WireError::ok;
    }
    /// Network byte order.
    [[nodiscard]] WireError u32(std::uint32_t& out) noexcept {
        if (remaining() < 4) return WireError::truncated;
        out = static_cast<std::uint32_t>(msg_[pos_]) << 24 | static_cast<std::uint32_t>(msg_[pos_ + 1]) << 16 |
              static_cast<std::uint32_t>(msg_[pos_ + 2]) << 8 | static_cast<std::uint32_t>(msg_[pos_ + 3]);
        pos_ += 4;
        return WireError::ok;
    }
    /// A message header (RFC 1035 4.1.1): ID, flags, then QDCOUNT, ANCOUNT,
    /// NSCOUNT, ARCOUNT into `counts`.
    [[nodiscard]] WireError header(std::uint16_t& id, std::uint16_t& flags, std::uint16_t (&counts)[4]) noexcept {
        if (remaining() < 12) return WireError::truncated;
        (void)u16(id);
        (void)u16(flags);
        for (auto& count : counts) (void)u16(count);
        return WireError::ok;
    }
    /// A view of the next n bytes (into the message, not a copy).
    [[nodiscard]] WireError bytes(std::size_t n, std::span<const std::uint8_t>& out) noexcept {
        if (remaining() < n) return WireError::truncated;
        out = msg_.subspan(pos_, n);
        pos_ += n;
        return WireError::ok;
    }
    [[nodiscard]] WireError skip(std::size_t n) noexcept {
        if (remaining() < n) return WireError::truncated;
        pos_ += n;
        return WireError::ok;
    }
    /// Everything up to this reader's end.
    std::span<const std::uint8_t> rest() noexcept {
        auto out = msg_.subspan(pos_, end_ - pos_);
        pos_ = end_;
        return out;
    }

    /// A domain name, following compression pointers (RFC 1035 4.1.4), in
    /// presentation form with dig's escapes and a trailing dot.
    [[nodiscard]] WireError name(std::string& out);
    /// A domain name (RFC 1035 4.1.4, the same checks as name()) laid out
    /// uncompressed in wire form, case kept; no allocation.
    [[nodiscard]] WireError wire_name(WireName& out) noexcept;
    /// Checks a domain name as name() does and steps over it.
    [[nodiscard]] WireError skip_name() noexcept;
    /// Steps over a name that was already checked (by skip_name() or
    /// scan_reply() on these same bytes): its labels up to the root or the
    /// first pointer, without checking or following anything again.
    void skip_checked_name() noexcept {
        while (msg_[pos_] != 0 && (msg_[pos_] & 0xC0) != 0xC0) pos_ += 1u + msg_[pos_];
        pos_ += msg_[pos_] == 0 ? 1 : 2;
    }
    /// Checks and steps over a domain name as skip_name() does; `equal`
    /// says whether it is `other` (ASCII case folded, RFC 4343).
    [[nodiscard]] WireError name_equals(const WireName& other, bool& equal) noexcept;
    /// A <character-string> (RFC 1035 3.3): a length byte, then the bytes.
    [[nodiscard]] WireError character_string(std::string& out);

    /// A reader over the next n bytes only (one RDATA); this reader skips them.
    [[nodiscard]] WireError sub(std::size_t n, WireReader& out) noexcept {
        if (remaining() < n) return WireError::truncated;
        out = WireReader(msg_, pos_, pos_ + n);
        pos_ += n;
        return WireError::ok;
    }

private:
    // The one walk over a name's labels (RFC 1035 4.1.4), each given to
    // `sink(label, offset, length)` with its length byte as laid out
    // uncompressed.
    template <class Sink>
    WireError walk_name(Sink& sink) noexcept;

    WireReader(std::span<const std::uint8_t> m, std::size_t pos, std::size_t end) noexcept
        : msg_(m), pos_(pos), end_(end) {}

    std::span<const std::uint8_t> msg_;
    std::size_t pos_;
    std::size_t end_;
};

}  // namespace pants::dns::detail
