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
//   ReadDelimiter::regex("\\r?\\n")       up to, and without, a match of a
//                                        regular expression (RegexMode::search)
//   ReadDelimiter::regex("(\\w+)=(\\d+);", RegexMode::match)
//                                        a match at the front, with its groups
//   ReadDelimiter::packed("!BIh")         one record of a Python struct format
//
// It is a value with no I/O and no state; `next(buffered)` finds the first
// frame. The built-in kinds use no heap and no indirect call per frame.
// Callback and coroutine reads of a channel share one Framer (below), so
// both see the same frames from the same buffer; the Framer also holds the
// groups of a regex frame (Framer::match(), `read_delimiter.match()` on a
// channel) and the record view of a packed frame (`read_delimiter.record()`).
//
// Regular expressions are PCRE2 (Perl syntax, byte semantics unless the
// pattern starts with (*UTF)), compiled once with its JIT. Matching is
// incremental: bytes that arrive later continue the search from where a
// match could still begin, instead of rescanning everything buffered, and
// the frames do not depend on how the bytes were split into chunks. A
// match that more bytes could still change waits for them (as PCRE2's
// PCRE2_PARTIAL_HARD): `\n+` waits for the byte after the newlines, `\n`
// does not; `$`, `\z` and `\b` at the end of what is buffered also wait.
// A match that stays partial (an open quote under `"[^"]*"`) is searched
// again from its start as bytes arrive, so such a frame costs its length
// squared over the chunk size; keep buffer_size modest for such patterns.
// An empty match never counts. Each search is bounded (a match limit and a
// backtracking limit): a pattern such as (a+)+b against a long run of `a`s
// fails the channel with FrameError::regex_limit instead of hanging it.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pants/detail/shared_rule.hpp>
#include <pants/frame_error.hpp>
#include <pants/packed.hpp>
#include <pants/result.hpp>

namespace pants {

namespace detail {
class RegexProgram;
}  // namespace detail

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

/// What a regex read_delimiter delivers (Pants' `regex_search`).
enum class RegexMode : std::uint8_t {
    /// The bytes before the first match; the match itself is consumed
    /// (Python's re.search, Pants' default).
    search,
    /// The match, which must start at the front of the buffered bytes
    /// (Python's re.match). Bytes that can never start a match fail the
    /// channel with FrameError::no_match at once (Pants waits until
    /// buffer_size overflows).
    match,
};

/// The groups of the regex match that ended the current frame: a view of
/// the received bytes, valid as long as the frame's data is (during
/// on_read, or until the next read()) and while read_delimiter is unchanged.
class RegexMatch {
public:
    RegexMatch() noexcept = default;
    /// Groups including group 0 (the whole match).
    std::size_t size() const noexcept { return groups_; }
    /// The whole match.
    std::string_view str() const { return group(0); }
    /// Group `i` (0 = the whole match); empty if it did not take part in
    /// the match. Throws std::out_of_range for i >= size().
    std::string_view group(std::size_t i) const;
    /// The group named `name` ((?<name>...)); throws std::invalid_argument
    /// if the pattern has no such group.
    std::string_view group(std::string_view name) const;
    std::string_view operator[](std::size_t i) const { return group(i); }
    /// Whether group `i` took part in the match.
    bool matched(std::size_t i) const;
    /// Where group `i` starts in the bytes buffered when the frame was
    /// found (the frame's data starts at 0 in RegexMode::search and is the
    /// match itself in RegexMode::match); std::string_view::npos if unset.
    std::size_t position(std::size_t i) const;

private:
    friend class Framer;
    RegexMatch(std::string_view subject, const std::size_t* ovector, std::size_t groups,
               const detail::RegexProgram* program) noexcept
        : subject_(subject), ovector_(ovector), groups_(groups), program_(program) {}
    std::string_view subject_;
    const std::size_t* ovector_ = nullptr;
    std::size_t groups_ = 0;
    const detail::RegexProgram* program_ = nullptr;
};

/// How to cut received bytes into frames (see the header comment).
class ReadDelimiter {
public:
    enum class Kind : std::uint8_t { none, delimiter, count, length_prefixed, function, regex, packed };

    /// No framing: each chunk as it arrives.
    ReadDelimiter() noexcept {}
    /// A copy shares the compiled regex or format; a frame function is
    /// copied (it may keep state of its own).
    ReadDelimiter(const ReadDelimiter& other);
    ReadDelimiter& operator=(const ReadDelimiter& other);
    ReadDelimiter(ReadDelimiter&& other) noexcept = default;
    ReadDelimiter& operator=(ReadDelimiter&& other) noexcept = default;
    ~ReadDelimiter() = default;
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
    /// Frames cut by a PCRE2 regular expression (see the header comment
    /// and RegexMode). A pattern that does not compile throws
    /// std::invalid_argument with PCRE2's message and the offset.
    static ReadDelimiter regex(std::string_view pattern, RegexMode mode = RegexMode::search);
    /// Records of a Python struct format (see pants/packed.hpp): each
    /// frame is exactly format.size() bytes, read through
    /// `read_delimiter.record()`. A bad format throws
    /// std::invalid_argument; so does a format of zero bytes.
    static ReadDelimiter packed(std::string_view format);
    static ReadDelimiter packed(PackedFormat format);

    Kind kind() const noexcept { return kind_; }
    bool is_none() const noexcept { return kind_ == Kind::none; }
    /// The delimiter bytes; empty unless kind() == Kind::delimiter.
    std::string_view delimiter() const noexcept {
        if (kind_ != Kind::delimiter) return {};
        return small_size_ != 0 ? std::string_view(small_, small_size_) : std::string_view(*rule<std::string>());
    }
    /// The frame size of a count, fixed record or packed record; 0 for
    /// other kinds.
    std::size_t count() const noexcept { return kind_ == Kind::count || kind_ == Kind::packed ? count_ : 0; }
    /// The record format of a packed delimiter; nullptr for other kinds.
    const PackedFormat* packed_format() const noexcept {
        return kind_ == Kind::packed ? rule<PackedFormat>() : nullptr;
    }
    /// The mode of a regex delimiter (RegexMode::search for other kinds).
    RegexMode regex_mode() const noexcept { return mode_; }
    /// Groups of a regex delimiter's matches, group 0 included; 0 for
    /// other kinds.
    std::size_t regex_groups() const noexcept;

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
    /// dropped. For a regex it is where a match could still begin. Other
    /// kinds ignore it. Framer keeps it for you.
    /// Errors besides those above: a regex's FrameError.
    Result<std::optional<Frame>> next(std::string_view buffered, std::size_t& scanned) const {
        return next(buffered, scanned, nullptr);
    }

    /// The total bytes the next frame needs buffered, when known: the
    /// count, or prefix plus payload once the prefix has arrived. For
    /// overflow checks and for sizing a buffer before the bytes arrive.
    std::optional<std::size_t> required_size(std::string_view buffered) const noexcept;

private:
    friend class Framer;
    // As next(buffered, scanned); a regex frame also leaves its groups'
    // offsets in `ovector` (2 * regex_groups() entries) when not null.
    Result<std::optional<Frame>> next(std::string_view buffered, std::size_t& scanned, std::size_t* ovector) const;

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
    // regex
    RegexMode mode_ = RegexMode::search;
    // delimiter: its length, when its bytes fit in small_ (else 0)
    std::uint8_t small_size_ = 0;
    union {
        std::size_t count_ = 0;             // count, packed (the record size)
        char small_[sizeof(std::size_t)];  // a short delimiter's bytes
    };
    // What the kind needs beyond numbers, as one pointer (every stream has
    // a ReadDelimiter, so it stays small): by kind_, a longer delimiter's
    // bytes (std::string), the FrameFunction, the compiled
    // detail::RegexProgram or the PackedFormat. Immutable and shared by
    // copies, except a function (see the copy constructor).
    detail::SharedRule rule_;
    template <class T>
    const T* rule() const noexcept {
        return rule_.get<T>();
    }
    const detail::RegexProgram* regex_program() const noexcept {
        return kind_ == Kind::regex ? rule<detail::RegexProgram>() : nullptr;
    }
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
    explicit Framer(ReadDelimiter delimiter) { set_delimiter(std::move(delimiter)); }

    /// Switches to another framing (e.g. from on_read); restarts the search.
    void set_delimiter(ReadDelimiter delimiter);
    const ReadDelimiter& delimiter() const noexcept { return delimiter_; }

    /// The next frame in `buffered` (see ReadDelimiter::next). A frame
    /// becomes the current one (match(), record()) until the next call.
    Result<std::optional<Frame>> next(std::string_view buffered) {
        if (!current_) return delimiter_.next(buffered, scanned_, nullptr);
        auto frame = delimiter_.next(buffered, scanned_, current_->ovector.get());
        current_->valid = frame && *frame;
        if (current_->valid) {
            current_->subject = buffered;
            current_->frame = **frame;
        }
        return frame;
    }
    /// The groups of the current frame's regex match; throws
    /// std::logic_error if the delimiter is not a regex or no frame is current.
    RegexMatch match() const;
    /// The current frame as a record of the packed delimiter's format;
    /// throws std::logic_error if the delimiter is not packed or no frame
    /// is current.
    PackedRecord record() const;
    /// Ends the current frame (its bytes are going away).
    void forget() noexcept {
        if (current_) current_->valid = false;
    }
    /// See ReadDelimiter::required_size.
    std::optional<std::size_t> required_size(std::string_view buffered) const noexcept {
        return delimiter_.required_size(buffered);
    }
    /// Forgets the search progress, for a buffer that was cleared or replaced.
    void reset() noexcept {
        scanned_ = 0;
        forget();
    }

private:
    // The current frame of a regex or packed delimiter, for match() and
    // record(): what it was cut from, where, and a regex's group offsets.
    // Made with such a delimiter; a stream framed otherwise (most) keeps
    // none, which matters for a server holding many idle connections.
    struct Current {
        std::string_view subject;
        Frame frame{};
        bool valid = false;
        std::unique_ptr<std::size_t[]> ovector;  // 2 per regex group
    };
    ReadDelimiter delimiter_;
    std::size_t scanned_ = 0;
    std::unique_ptr<Current> current_;
};

}  // namespace pants
