// pants/read_delimiter.hpp: what one read of a channel delivers.
//
// A ReadDelimiter describes how to cut the bytes received so far into
// frames, as Pants' `read_delimiter`:
//
//   ReadDelimiter()                      each chunk as it arrives
//   ReadDelimiter("\r\n") or '\n'        up to, and without, the delimiter
//   ReadDelimiter(4)                     exactly 4 bytes
//   ReadDelimiter::fixed_record(16)      binary records of exactly 16 bytes
//   ReadDelimiter::length_prefixed(2)    a 2-byte big-endian length, then
//                                        that many payload bytes
//   ReadDelimiter::function(f)           whatever f says
//
// It is a value with no I/O and no state; `next(buffered)` finds the first
// frame. The built-in kinds use no heap and no indirect call per frame.
// Callback and coroutine reads of a channel share one Framer (below), so
// both see the same frames from the same buffer.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <pants/result.hpp>

namespace pants {

/// Where one frame lies in the bytes buffered so far: the payload is
/// `buffered.substr(offset, length)`, and once it has been delivered the
/// first `consumed` bytes are dropped. `offset + length <= consumed`.
struct Frame {
    std::size_t offset;
    std::size_t length;
    std::size_t consumed;

    friend bool operator==(const Frame&, const Frame&) = default;
};

/// A user framing function: given every byte buffered so far (from the
/// start of the next frame), the frame, std::nullopt when more bytes are
/// needed, or an error that closes the channel with that error. It must
/// return a frame with `0 < consumed <= buffered.size()` and
/// `offset + length <= consumed`; anything else is a programming error
/// (next() throws std::out_of_range).
using FrameFunction = std::function<Result<std::optional<Frame>>(std::string_view buffered)>;

/// Byte order of a length prefix.
enum class ByteOrder : std::uint8_t { big, little };

/// How to cut received bytes into frames (see the header comment).
class ReadDelimiter {
public:
    enum class Kind : std::uint8_t { none, delimiter, count, length_prefixed, function };

    /// No framing: each chunk as it arrives.
    ReadDelimiter() noexcept = default;
    /// Up to and without `delimiter`; throws std::invalid_argument if empty.
    ReadDelimiter(std::string delimiter);
    ReadDelimiter(std::string_view delimiter);
    /// As above; a null pointer throws std::invalid_argument.
    ReadDelimiter(const char* delimiter);
    /// Up to and without the single byte `delimiter` (`read_delimiter = '\n'`).
    ReadDelimiter(char delimiter);
    /// Exactly `count` bytes (`read_delimiter = 4`); throws
    /// std::invalid_argument if `count` is zero or negative.
    template <std::integral T>
        requires(!std::same_as<T, bool> && !std::same_as<T, char>)
    ReadDelimiter(T count) : ReadDelimiter(checked_count(count), 0) {}

    /// Binary records of exactly `size` bytes (the same framing as a count);
    /// throws std::invalid_argument if `size` is zero.
    static ReadDelimiter fixed_record(std::size_t size);
    /// A `width`-byte (1, 2, 4 or 8) unsigned length in `order`, then the
    /// payload. With `length_includes_header` the length counts the prefix
    /// too. The frame's payload excludes the prefix. Throws
    /// std::invalid_argument for another width.
    static ReadDelimiter length_prefixed(unsigned width, ByteOrder order = ByteOrder::big,
                                         bool length_includes_header = false);
    /// Frames cut by a user function; throws std::invalid_argument if empty.
    static ReadDelimiter function(FrameFunction f);

    Kind kind() const noexcept { return kind_; }
    bool is_none() const noexcept { return kind_ == Kind::none; }
    /// The delimiter bytes; empty unless kind() == Kind::delimiter.
    std::string_view delimiter() const noexcept { return delimiter_; }
    /// The frame size of a count or fixed record; 0 for other kinds.
    std::size_t count() const noexcept { return kind_ == Kind::count ? count_ : 0; }

    /// The first frame in `buffered`, std::nullopt if more bytes are needed,
    /// or an error: std::errc::bad_message for a header-inclusive length
    /// smaller than its prefix, std::errc::message_size for a length that
    /// does not fit in memory, or the error of a user function. With no
    /// framing, an empty `buffered` needs more bytes.
    Result<std::optional<Frame>> next(std::string_view buffered) const {
        std::size_t scanned = 0;
        return next(buffered, scanned);
    }

    /// As next(buffered), resuming a delimiter search: `scanned` (in/out)
    /// counts the bytes at the front of `buffered` already searched without
    /// finding the start of a delimiter. Start at 0; after std::nullopt it
    /// is advanced, so a caller that only appends bytes never rescans them;
    /// after a frame it is 0 again, for the bytes left once `consumed` are
    /// dropped. Other kinds ignore it. Framer keeps it for you.
    Result<std::optional<Frame>> next(std::string_view buffered, std::size_t& scanned) const;

    /// The total bytes the next frame needs buffered, when known: the
    /// count, or prefix plus payload once the prefix has arrived. For
    /// overflow checks and for sizing a buffer before the bytes arrive.
    std::optional<std::size_t> required_size(std::string_view buffered) const noexcept;

private:
    // Throws std::invalid_argument for a count that is not positive.
    [[noreturn]] static void bad_count();
    template <std::integral T>
    static std::size_t checked_count(T count) {
        if constexpr (std::is_signed_v<T>) {
            if (count <= 0)
                bad_count();
        } else if (count == 0) {
            bad_count();
        }
        if constexpr (sizeof(T) > sizeof(std::size_t)) {
            if (count > static_cast<T>(SIZE_MAX))
                bad_count();
        }
        return static_cast<std::size_t>(count);
    }
    ReadDelimiter(std::size_t count, int /*tag: a checked count*/) noexcept;

    // The payload length a length prefix announces, or an error.
    Result<std::size_t> payload_length(std::string_view buffered) const noexcept;

    Kind kind_ = Kind::none;
    // length_prefixed
    std::uint8_t width_ = 0;
    ByteOrder order_ = ByteOrder::big;
    bool includes_header_ = false;
    // count
    std::size_t count_ = 0;
    // delimiter
    std::string delimiter_;
    // function
    FrameFunction function_;
};

/// The framing state one channel keeps: its ReadDelimiter plus how far the
/// delimiter search got, so bytes are scanned once however they arrive.
///
/// Contract: between calls to next(), the caller only appends bytes to the
/// back of what it passes, except that after next() returns a frame it
/// drops exactly `frame.consumed` bytes from the front. The bytes may move
/// (e.g. from a receive buffer into an InputBuffer) as long as the
/// sequence is the same. Call reset() if the buffer is changed otherwise.
/// Not thread-safe; used from the channel's engine thread.
class Framer {
public:
    Framer() noexcept = default;
    explicit Framer(ReadDelimiter delimiter) noexcept : delimiter_(std::move(delimiter)) {}

    /// Switches to another framing (e.g. from on_read); restarts the search.
    void set_delimiter(ReadDelimiter delimiter) {
        delimiter_ = std::move(delimiter);
        scanned_ = 0;
    }
    const ReadDelimiter& delimiter() const noexcept { return delimiter_; }

    /// The next frame in `buffered` (see ReadDelimiter::next).
    Result<std::optional<Frame>> next(std::string_view buffered) {
        return delimiter_.next(buffered, scanned_);
    }
    /// See ReadDelimiter::required_size.
    std::optional<std::size_t> required_size(std::string_view buffered) const noexcept {
        return delimiter_.required_size(buffered);
    }
    /// Forgets the search progress, for a buffer that was cleared or replaced.
    void reset() noexcept { scanned_ = 0; }

private:
    ReadDelimiter delimiter_;
    std::size_t scanned_ = 0;
};

}  // namespace pants
