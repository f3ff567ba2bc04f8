// PackedFormat: Python `struct` format strings (the Python Standard
// Library, "struct: Interpret bytes as packed binary data", section
// "Format Strings"), parsed once, and records encoded from and decoded to
// C++ values.
#include <pants/packed.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace pants {

namespace {

using Kind = detail::PackedType::Kind;

// The format text for an error message: printable bytes as they are, the
// rest as \xNN.
std::string printable(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += c;
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
            out += hex;
        }
    }
    return out;
}

[[noreturn]] void format_error(std::string_view text, const std::string& what) {
    throw std::invalid_argument("packed format \"" + printable(text) + "\": " + what);
}

// One item of a format: a code with its repeat count, placed at `offset`.
struct Item {
    char code;
    std::size_t count;   // the repeat count (the length of an `Ns`)
    std::size_t width;   // bytes per value (1 for `s` and `x`)
    std::size_t offset;  // where the first value starts, aligned
};

// Reads a format item by item, checking it and laying the items out as
// Python does. No allocation: write_packed() parses its format on each call.
class FormatReader {
public:
    explicit FormatReader(std::string_view text) : text_(text) {
        if (!text_.empty()) {
            switch (text_[0]) {
            case '@': pos_ = 1; break;
            case '=': native_ = false, pos_ = 1; break;
            case '<': native_ = false, big_ = false, pos_ = 1; break;
            case '>':
            case '!': native_ = false, big_ = true, pos_ = 1; break;
            default: break;
            }
        }
    }

    bool big_endian() const noexcept { return big_; }
    // Bytes laid out so far (the record size once next() returned false).
    std::size_t size() const noexcept { return size_; }

    // The next item, or false at the end.
    bool next(Item& item) {
        while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
        if (pos_ == text_.size()) return false;
        const std::size_t start = pos_;
        std::size_t count = 1;
        if (is_digit(text_[pos_])) {
            count = 0;
            while (pos_ < text_.size() && is_digit(text_[pos_])) {
                const std::size_t digit = std::size_t(text_[pos_] - '0');
                if (count > (max_size - digit) / 10) fail("repeat count too large", start);
                count = count * 10 + digit;
                ++pos_;
            }
            if (pos_ == text_.size()) fail("repeat count without a code", start);
        }
        const char code = text_[pos_];
        const std::size_t width = width_of(code, pos_);
        ++pos_;
        // Native mode aligns each item to its size, as a C compiler would
        // (Python's "@": "native alignment"); even a zero count aligns.
        std::size_t offset = size_;
        if (native_ && width > 1) offset = (offset + width - 1) / width * width;
        const std::size_t bytes = code == 's' ? count : count * width;  // count * width checked below
        if (code != 's' && count > max_size / width) fail("record too large", start);
        if (offset > max_size || bytes > max_size - offset) fail("record too large", start);
        size_ = offset + bytes;
        item = {code, count, code == 's' ? 1 : width, offset};
        return true;
    }

    [[noreturn]] void fail(const std::string& what, std::size_t at) const {
        format_error(text_, what + " at offset " + std::to_string(at));
    }

private:
    // Records past this are surely a mistake, and the bound keeps every
    // offset computation far from overflow.
    static constexpr std::size_t max_size = std::size_t(1) << 40;

    static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

    std::size_t width_of(char code, std::size_t at) const {
        switch (code) {
        case 'x':
        case 'c':
        case 'b':
        case 'B':
        case '?':
        case 's': return 1;
        case 'h':
        case 'H': return 2;
        case 'i':
        case 'I':
        case 'f': return 4;
        case 'l':
        case 'L': return native_ ? sizeof(long) : 4;
        case 'q':
        case 'Q':
        case 'd': return 8;
        case '@':
        case '=':
        case '<':
        case '>':
        case '!': fail(std::string("byte order character '") + code + "' is allowed only first", at);
        case 'e':
        case 'n':
        case 'N':
        case 'p':
        case 'P': fail(std::string("code '") + code + "' is not supported", at);
        default: fail("unknown code '" + printable(std::string_view(&code, 1)) + "'", at);
        }
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::size_t size_ = 0;
    bool native_ = true;
    bool big_ = std::endian::native == std::endian::big;
};

bool is_signed_code(char code) { return code == 'b' || code == 'h' || code == 'i' || code == 'l' || code == 'q'; }
bool is_unsigned_code(char code) { return code == 'B' || code == 'H' || code == 'I' || code == 'L' || code == 'Q'; }

// What a code holds, in words, for error messages.
std::string describe_code(char code, std::size_t width) {
    const std::string bits = std::to_string(width * 8);
    if (is_signed_code(code)) return bits + "-bit signed integer";
    if (is_unsigned_code(code)) return bits + "-bit unsigned integer";
    switch (code) {
    case 'f': return "float";
    case 'd': return "double";
    case '?': return "bool";
    case 'c': return "char";
    default: return std::to_string(width) + "-byte string";
    }
}

std::string describe_type(detail::PackedType t) {
    const std::string bits = std::to_string(t.size * 8);
    switch (t.kind) {
    case Kind::signed_integer: return bits + "-bit signed integer";
    case Kind::unsigned_integer: return bits + "-bit unsigned integer";
    case Kind::floating: return t.size == 4 ? "float" : "double";
    case Kind::boolean: return "bool";
    case Kind::character: return "char";
    case Kind::bytes: return "string";
    }
    return "value";
}

// Whether a value of type `t` reads code `code` of `width` bytes exactly.
bool reads_as(char code, std::size_t width, detail::PackedType t) {
    if (is_signed_code(code)) return t.kind == Kind::signed_integer && t.size == width;
    if (is_unsigned_code(code)) return t.kind == Kind::unsigned_integer && t.size == width;
    switch (code) {
    case 'f': return t.kind == Kind::floating && t.size == 4;
    case 'd': return t.kind == Kind::floating && t.size == 8;
    case '?': return t.kind == Kind::boolean;
    case 'c': return t.kind == Kind::character;
    case 's': return t.kind == Kind::bytes;
    default: return false;
    }
}

void store_unsigned(char* p, std::uint64_t v, std::size_t width, bool big_endian) {
    for (std::size_t i = 0; i < width; ++i) {
        const std::size_t at = big_endian ? width - 1 - i : i;
        p[at] = static_cast<char>(v & 0xff);
        v >>= 8;
    }
}

// Encodes `args` into `out` (of reader-computed size, zeroed) as `text`
// says; throws std::invalid_argument.
void encode(std::string_view text, std::span<const detail::PackedArg> args, char* out) {
    FormatReader reader(text);
    const bool big = reader.big_endian();
    std::size_t index = 0;
    Item item;
    while (reader.next(item)) {
        if (item.code == 'x') continue;  // zeros already
        const std::size_t values = item.code == 's' ? 1 : item.count;
        for (std::size_t k = 0; k < values; ++k, ++index) {
            const detail::PackedArg& a = args[index];
            char* p = out + item.offset + k * item.width;
            auto wrong = [&](const std::string& why) {
                format_error(text, "value " + std::to_string(index) + " (" + describe_type(a.type) + ") " + why);
            };
            const std::size_t width = item.width;
            if (is_signed_code(item.code) || is_unsigned_code(item.code)) {
                if (a.type.kind != Kind::signed_integer && a.type.kind != Kind::unsigned_integer)
                    wrong(std::string("cannot be packed as '") + item.code + "', a " + describe_code(item.code, width));
                const bool negative = a.type.kind == Kind::signed_integer && a.i < 0;
                const unsigned bits = unsigned(width * 8);
                bool fits;
                if (is_unsigned_code(item.code)) {
                    fits = !negative && (bits == 64 || a.u < (std::uint64_t(1) << bits));
                } else if (negative) {
                    fits = bits == 64 || a.i >= -(std::int64_t(1) << (bits - 1));
                } else {
                    const std::uint64_t v = a.type.kind == Kind::signed_integer ? std::uint64_t(a.i) : a.u;
                    fits = v <= (std::uint64_t(1) << (bits - 1)) - 1;
                }
                if (!fits) {
                    const std::string shown =
                        a.type.kind == Kind::signed_integer ? std::to_string(a.i) : std::to_string(a.u);
                    wrong("= " + shown + " does not fit '" + item.code + "', a " + describe_code(item.code, width));
                }
                store_unsigned(p, a.type.kind == Kind::signed_integer ? std::uint64_t(a.i) : a.u, width, big);
            } else if (item.code == 'f' || item.code == 'd') {
                double v;
                if (a.type.kind == Kind::floating)
                    v = a.f;
                else if (a.type.kind == Kind::signed_integer)
                    v = double(a.i);
                else if (a.type.kind == Kind::unsigned_integer)
                    v = double(a.u);
                else
                    wrong(std::string("cannot be packed as '") + item.code + "', a " + describe_code(item.code, width));
                if (item.code == 'f') {
                    if (std::isfinite(v) && std::fabs(v) > FLT_MAX) wrong("is too large for 'f', a float");
                    store_unsigned(p, std::bit_cast<std::uint32_t>(static_cast<float>(v)), 4, big);
                } else {
                    store_unsigned(p, std::bit_cast<std::uint64_t>(v), 8, big);
                }
            } else if (item.code == '?') {
                if (a.type.kind != Kind::boolean) wrong("cannot be packed as '?', a bool");
                *p = static_cast<char>(a.u);
            } else if (item.code == 'c') {
                if (a.type.kind == Kind::character)
                    *p = static_cast<char>(a.u);
                else if (a.type.kind == Kind::bytes && a.bytes.size() == 1)
                    *p = a.bytes[0];
                else
                    wrong("cannot be packed as 'c', a char");
            } else {  // 's'
                if (a.type.kind != Kind::bytes) wrong("cannot be packed as 's', a string");
                if (a.bytes.size() > item.count)
                    wrong("of " + std::to_string(a.bytes.size()) + " bytes is longer than '" +
                          std::to_string(item.count) + "s'");
                if (!a.bytes.empty()) std::memcpy(p, a.bytes.data(), a.bytes.size());
            }
        }
    }
}

}  // namespace

namespace detail {

PackedBytes::PackedBytes(std::string_view format, std::span<const PackedArg> args) {
    // First pass: the size and the number of values (and a checked format).
    FormatReader reader(format);
    std::size_t values = 0;
    Item item;
    while (reader.next(item))
        if (item.code != 'x') values += item.code == 's' ? 1 : item.count;
    if (values != args.size())
        format_error(format, "takes " + std::to_string(values) + " values, got " + std::to_string(args.size()));
    size_ = reader.size();
    char* out = inline_;
    if (size_ > inline_size) {
        heap_ = std::make_unique<char[]>(size_);  // zeroed
        out = heap_.get();
    } else {
        std::memset(inline_, 0, size_);
    }
    encode(format, args, out);
}

}  // namespace detail

PackedFormat::PackedFormat(std::string_view format) : text_(format) {
    FormatReader reader(text_);
    big_endian_ = reader.big_endian();
    Item item;
    while (reader.next(item)) {
        if (item.code == 'x') continue;
        const std::size_t count = item.code == 's' ? 1 : item.count;
        if (count == 0) continue;
        const std::size_t width = item.code == 's' ? item.count : item.width;
        runs_.push_back({values_, count, item.offset, width, item.code});
        values_ += count;
    }
    size_ = reader.size();
}

const PackedFormat::Run& PackedFormat::run_of(std::size_t i) const {
    if (i >= values_)
        throw std::out_of_range("packed record \"" + printable(text_) + "\": no value " + std::to_string(i) +
                                " (it has " + std::to_string(values_) + ")");
    auto it = std::upper_bound(runs_.begin(), runs_.end(), i,
                               [](std::size_t v, const Run& r) { return v < r.first_value; });
    return *(it - 1);
}

char PackedFormat::code(std::size_t i) const { return run_of(i).code; }

detail::PackedSlot PackedFormat::slot(std::size_t i, detail::PackedType want) const {
    const Run& r = run_of(i);
    if (!reads_as(r.code, r.width, want))
        throw std::invalid_argument("packed record \"" + printable(text_) + "\": value " + std::to_string(i) +
                                    " is '" + r.code + "', a " + describe_code(r.code, r.width) +
                                    ", not a " + describe_type(want));
    return {r.offset + (i - r.first_value) * (r.code == 's' ? 0 : r.width), r.width, big_endian_};
}

PackedRecord::PackedRecord(const PackedFormat& format, std::string_view bytes) : format_(&format), bytes_(bytes) {
    if (bytes.size() != format.size())
        throw std::invalid_argument("packed record \"" + printable(format.format()) + "\" is " +
                                    std::to_string(format.size()) + " bytes, not " + std::to_string(bytes.size()));
}

void PackedRecord::check_count(std::size_t n) const {
    if (n != size())
        throw std::invalid_argument("packed record \"" + printable(format_->format()) + "\" holds " +
                                    std::to_string(size()) + " values; unpack asked for " + std::to_string(n));
}

}  // namespace pants
