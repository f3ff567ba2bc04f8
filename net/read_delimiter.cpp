// ReadDelimiter: finding the next frame in buffered bytes.
#include <pants/read_delimiter.hpp>

#include <cstring>
#include <functional>
#include <stdexcept>
#include <string.h>  // memmem (GNU)

#include "regex_program.hpp"

namespace pants {

ReadDelimiter::ReadDelimiter(const ReadDelimiter& other)
    : kind_(other.kind_),
      width_(other.width_),
      order_(other.order_),
      includes_header_(other.includes_header_),
      mode_(other.mode_),
      small_size_(other.small_size_),
      rule_(other.kind_ == Kind::function && other.rule_
                ? detail::SharedRule::make<FrameFunction>(*other.rule<FrameFunction>())
                : other.rule_) {
    std::memcpy(small_, other.small_, sizeof small_);  // count_ or small_, whichever is in use
}

ReadDelimiter& ReadDelimiter::operator=(const ReadDelimiter& other) {
    if (this != &other)
        *this = ReadDelimiter(other);
    return *this;
}

ReadDelimiter::ReadDelimiter(std::string delimiter) : kind_(Kind::delimiter) {
    if (delimiter.empty())
        throw std::invalid_argument("read_delimiter: empty delimiter string");
    if (delimiter.size() <= sizeof small_) {
        small_size_ = static_cast<std::uint8_t>(delimiter.size());
        std::memcpy(small_, delimiter.data(), delimiter.size());
    } else {
        rule_ = detail::SharedRule::make<std::string>(std::move(delimiter));
    }
}

ReadDelimiter::ReadDelimiter(std::string_view delimiter) : ReadDelimiter(std::string(delimiter)) {}

ReadDelimiter::ReadDelimiter(const char* delimiter)
    : ReadDelimiter(delimiter ? std::string(delimiter) : std::string()) {}

ReadDelimiter::ReadDelimiter(char delimiter) : ReadDelimiter(std::string(1, delimiter)) {}

ReadDelimiter::ReadDelimiter(std::size_t count, int) noexcept : kind_(Kind::count) { count_ = count; }

void ReadDelimiter::bad_count() {
    throw std::invalid_argument("read_delimiter: a byte count must be positive");
}

ReadDelimiter ReadDelimiter::fixed_record(std::size_t size) { return ReadDelimiter(checked_count(size), 0); }

ReadDelimiter ReadDelimiter::length_prefixed(unsigned width, ByteOrder order, bool length_includes_header) {
    if (width != 1 && width != 2 && width != 4 && width != 8)
        throw std::invalid_argument("read_delimiter: a length prefix is 1, 2, 4 or 8 bytes");
    ReadDelimiter d;
    d.kind_ = Kind::length_prefixed;
    d.width_ = static_cast<std::uint8_t>(width);
    d.order_ = order;
    d.includes_header_ = length_includes_header;
    return d;
}

ReadDelimiter ReadDelimiter::function(FrameFunction f) {
    if (!f)
        throw std::invalid_argument("read_delimiter: empty frame function");
    ReadDelimiter d;
    d.kind_ = Kind::function;
    d.rule_ = detail::SharedRule::make<FrameFunction>(std::move(f));
    return d;
}

ReadDelimiter ReadDelimiter::regex(std::string_view pattern, RegexMode mode) {
    ReadDelimiter d;
    d.kind_ = Kind::regex;
    d.mode_ = mode;
    d.rule_ = detail::SharedRule::make<detail::RegexProgram>(pattern, mode);
    return d;
}

ReadDelimiter ReadDelimiter::packed(std::string_view format) { return packed(PackedFormat(format)); }

ReadDelimiter ReadDelimiter::packed(PackedFormat format) {
    if (format.size() == 0)
        throw std::invalid_argument("read_delimiter: packed format \"" + std::string(format.format()) +
                                    "\" has no bytes to frame");
    ReadDelimiter d;
    d.kind_ = Kind::packed;
    d.count_ = format.size();
    d.rule_ = detail::SharedRule::make<PackedFormat>(std::move(format));
    return d;
}

std::size_t ReadDelimiter::regex_groups() const noexcept {
    const detail::RegexProgram* regex = regex_program();
    return regex ? regex->groups() : 0;
}

Result<std::size_t> ReadDelimiter::payload_length(std::string_view buffered) const noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(buffered.data());
    std::uint64_t length = 0;
    // A byte loop the compiler turns into one load (and a bswap for big).
    if (order_ == ByteOrder::big) {
        for (unsigned i = 0; i < width_; ++i)
            length = (length << 8) | p[i];
    } else {
        for (unsigned i = width_; i-- > 0;)
            length = (length << 8) | p[i];
    }
    if (includes_header_) {
        if (length < width_)
            return fail(std::errc::bad_message);
        length -= width_;
    }
    // The whole frame (prefix + payload) must be addressable.
    if (length > SIZE_MAX - width_)
        return fail(std::errc::message_size);
    return static_cast<std::size_t>(length);
}

Result<std::optional<Frame>> ReadDelimiter::next(std::string_view buffered, std::size_t& scanned,
                                                 std::size_t* ovector) const {
    switch (kind_) {
    case Kind::none:
        if (buffered.empty())
            return std::nullopt;
        return Frame{0, buffered.size(), buffered.size()};

    case Kind::delimiter: {
        const std::string_view delimiter = this->delimiter();
        const std::size_t n = delimiter.size();
        // A stale hint (the caller broke the Framer contract) only costs a rescan.
        std::size_t from = scanned <= buffered.size() ? scanned : 0;
        const char* start = buffered.data() + from;
        std::size_t left = buffered.size() - from;
        // An empty view may have a null data(): memchr must not see it.
        const void* hit = left == 0 ? nullptr
                          : n == 1  ? std::memchr(start, delimiter[0], left)
                                    : ::memmem(start, left, delimiter.data(), n);
        if (hit == nullptr) {
            // A delimiter may begin in the last n - 1 bytes and end in bytes
            // not yet received: search those again next time.
            scanned = buffered.size() >= n ? buffered.size() - n + 1 : 0;
            return std::nullopt;
        }
        scanned = 0;
        auto pos = static_cast<std::size_t>(static_cast<const char*>(hit) - buffered.data());
        return Frame{0, pos, pos + n};
    }

    case Kind::count:
    case Kind::packed:
        if (buffered.size() < count_)
            return std::nullopt;
        return Frame{0, count_, count_};

    case Kind::length_prefixed: {
        if (buffered.size() < width_)
            return std::nullopt;
        auto length = payload_length(buffered);
        if (!length)
            return unexpected(length.error());
        if (buffered.size() - width_ < *length)
            return std::nullopt;
        return Frame{width_, *length, width_ + *length};
    }

    case Kind::function: {
        if (!rule_) throw std::bad_function_call();  // a moved-from function delimiter
        auto frame = (*rule<FrameFunction>())(buffered);
        if (frame && *frame) {
            const Frame& f = **frame;
            if (f.consumed == 0 || f.consumed > buffered.size() || f.offset > f.consumed ||
                f.length > f.consumed - f.offset)
                throw std::out_of_range("read_delimiter: frame function returned a frame "
                                        "outside the buffered bytes or consuming none");
        }
        return frame;
    }

    case Kind::regex:
        return regex_program()->next(buffered, scanned, ovector);
    }
    return std::nullopt;  // unreachable: every Kind is handled above
}

std::optional<std::size_t> ReadDelimiter::required_size(std::string_view buffered) const noexcept {
    switch (kind_) {
    case Kind::count:
    case Kind::packed:
        return count_;
    case Kind::length_prefixed: {
        if (buffered.size() < width_)
            return std::nullopt;
        auto length = payload_length(buffered);
        if (!length)
            return std::nullopt;  // next() reports the error
        return width_ + *length;
    }
    default:
        return std::nullopt;
    }
}

void Framer::set_delimiter(ReadDelimiter delimiter) {
    const bool keeps_frame = delimiter.kind() == ReadDelimiter::Kind::regex || delimiter.packed_format();
    if (!keeps_frame) {
        current_.reset();
    } else {
        // Once per delimiter, not per frame.
        if (!current_) current_ = std::make_unique<Current>();
        const std::size_t slots = 2 * delimiter.regex_groups();
        current_->ovector = slots ? std::make_unique<std::size_t[]>(slots) : nullptr;
    }
    delimiter_ = std::move(delimiter);
    scanned_ = 0;
    forget();
}

RegexMatch Framer::match() const {
    if (delimiter_.kind() != ReadDelimiter::Kind::regex)
        throw std::logic_error("read_delimiter.match(): the read_delimiter is not a regex");
    if (!current_ || !current_->valid) throw std::logic_error("read_delimiter.match(): no regex frame is being delivered");
    return RegexMatch(current_->subject, current_->ovector.get(), delimiter_.regex_groups(), delimiter_.regex_program());
}

PackedRecord Framer::record() const {
    const PackedFormat* format = delimiter_.packed_format();
    if (!format) throw std::logic_error("read_delimiter.record(): the read_delimiter is not packed");
    if (!current_ || !current_->valid) throw std::logic_error("read_delimiter.record(): no record is being delivered");
    return PackedRecord(*format, current_->subject.substr(current_->frame.offset, current_->frame.length));
}

std::string_view RegexMatch::group(std::size_t i) const {
    if (i >= groups_)
        throw std::out_of_range("RegexMatch: no group " + std::to_string(i) + " (the match has " +
                                std::to_string(groups_) + ")");
    if (!matched(i)) return {};
    return subject_.substr(ovector_[2 * i], ovector_[2 * i + 1] - ovector_[2 * i]);
}

std::string_view RegexMatch::group(std::string_view name) const {
    const int n = program_ ? program_->group_number(name) : -1;
    if (n < 0) throw std::invalid_argument("RegexMatch: no group named \"" + std::string(name) + "\"");
    return group(std::size_t(n));
}

bool RegexMatch::matched(std::size_t i) const {
    // PCRE2_UNSET is ~0: a group that did not take part.
    return i < groups_ && ovector_[2 * i] <= subject_.size() && ovector_[2 * i + 1] <= subject_.size() &&
           ovector_[2 * i] <= ovector_[2 * i + 1];
}

std::size_t RegexMatch::position(std::size_t i) const {
    if (i >= groups_) throw std::out_of_range("RegexMatch: no group " + std::to_string(i));
    return matched(i) ? ovector_[2 * i] : std::string_view::npos;
}

}  // namespace pants
