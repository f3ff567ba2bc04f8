// pants/packed.hpp: binary records described by Python `struct` format
// strings, as Pants' struct_delimiter.
//
//   PackedFormat f("!BIh");               // network order: uint8, uint32, int16
//   f.size()                              // 7 bytes per record
//   PackedRecord r(f, bytes);             // a view of 7 received bytes
//   auto [kind, id, delta] = r.unpack<std::uint8_t, std::uint32_t, std::int16_t>();
//   r.get<std::uint32_t>(1)               // one value
//
// The format follows Python's `struct` module: an optional first character
// for byte order, size and alignment (`@` native order, native sizes and
// alignment, the default; `=` native order, standard sizes; `<` little
// endian; `>` and `!` big endian), then codes, each with an optional
// repeat count: `x` pad byte (no value), `c` char, `b`/`B` 8-bit,
// `h`/`H` 16-bit, `i`/`I` 32-bit, `l`/`L` 32-bit (native: `long`),
// `q`/`Q` 64-bit signed/unsigned, `f` float, `d` double, `?` bool, and
// `Ns`, one string of exactly N bytes. Whitespace between items is
// ignored. `e`, `n`, `N`, `p` and `P` are not supported.
//
// Reading is type-checked: get<T>(i) needs T to be what the code holds
// (an integer type of exactly that size and signedness, float for `f`,
// double for `d`, bool for `?`, char for `c`, std::string_view or
// std::string for `s`); anything else throws std::invalid_argument naming
// the value, its code and the type asked for. Writing (pack(), and
// Stream::write_packed) takes any integer for an integer code if its value
// fits, any number for `f`/`d`, bool for `?`, char for `c`, and bytes
// (anything convertible to std::string_view) of at most N for `Ns`, padded
// with zero bytes (Python truncates a longer string silently; here it is an
// error). Pad bytes and alignment padding are written as zeros.
//
// A PackedFormat is an immutable value, safe to share between threads; a
// PackedRecord is a view of bytes it does not own.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace pants {

namespace detail {

/// What a C++ type is, as a packed value: the check between a format code
/// and the type a caller reads it as or writes it from.
struct PackedType {
    enum class Kind : std::uint8_t { signed_integer, unsigned_integer, floating, boolean, character, bytes };
    Kind kind;
    std::uint8_t size;  // sizeof the type (0 for bytes)
};

template <class T>
consteval PackedType packed_type_of() {
    using K = PackedType::Kind;
    if constexpr (std::is_same_v<T, bool>)
        return {K::boolean, 1};
    else if constexpr (std::is_same_v<T, char>)
        return {K::character, 1};
    else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>)
        return {K::signed_integer, sizeof(T)};
    else if constexpr (std::is_integral_v<T>)
        return {K::unsigned_integer, sizeof(T)};
    else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
        return {K::floating, sizeof(T)};
    else if constexpr (std::is_same_v<T, std::string_view> || std::is_same_v<T, std::string>)
        return {K::bytes, 0};
    else
        static_assert(sizeof(T) == 0, "a packed value is an integer, bool, char, float, double, "
                                      "std::string_view or std::string");
}

/// One value handed to pack() / write_packed(), its type erased.
struct PackedArg {
    PackedType type;
    union {
        std::int64_t i;
        std::uint64_t u;
        double f;
    };
    std::string_view bytes;
};

template <class T>
PackedArg packed_arg(const T& value) {
    using U = std::remove_cvref_t<T>;
    PackedArg a{};
    if constexpr (std::is_same_v<U, bool>) {
        a.type = packed_type_of<bool>();
        a.u = value ? 1 : 0;
    } else if constexpr (std::is_same_v<U, char>) {
        a.type = packed_type_of<char>();
        a.u = static_cast<unsigned char>(value);
    } else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) {
        a.type = packed_type_of<U>();
        a.i = value;
    } else if constexpr (std::is_integral_v<U>) {
        a.type = packed_type_of<U>();
        a.u = value;
    } else if constexpr (std::is_floating_point_v<U>) {
        static_assert(!std::is_same_v<U, long double>, "a packed value cannot be a long double");
        a.type = packed_type_of<U>();
        a.f = value;
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        a.type = {PackedType::Kind::bytes, 0};
        a.bytes = std::string_view(value);
    } else {
        static_assert(sizeof(T) == 0, "write_packed: a value must be an integer, bool, char, float, double "
                                      "or bytes (convertible to std::string_view)");
    }
    return a;
}

/// Where one value lies in a record, and how to read it.
struct PackedSlot {
    std::size_t offset;
    std::size_t width;
    bool big_endian;
};

/// `width` bytes at `p` as an unsigned number in the given byte order.
inline std::uint64_t load_unsigned(const char* p, std::size_t width, bool big_endian) noexcept {
    std::uint64_t v = 0;
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    if (big_endian) {
        for (std::size_t i = 0; i < width; ++i) v = (v << 8) | b[i];
    } else {
        for (std::size_t i = width; i-- > 0;) v = (v << 8) | b[i];
    }
    return v;
}

/// One encoded record: kept inline when small, so writing a record
/// allocates nothing; on the heap when larger.
class PackedBytes {
public:
    /// Encodes `args` as `format` says; throws std::invalid_argument for a
    /// bad format, a wrong number of values, a value of the wrong kind or
    /// one that does not fit.
    PackedBytes(std::string_view format, std::span<const PackedArg> args);
    PackedBytes(const PackedBytes&) = delete;
    PackedBytes& operator=(const PackedBytes&) = delete;
    std::string_view view() const noexcept { return {heap_ ? heap_.get() : inline_, size_}; }

private:
    static constexpr std::size_t inline_size = 256;
    char inline_[inline_size];
    std::unique_ptr<char[]> heap_;
    std::size_t size_ = 0;
};

}  // namespace detail

/// A parsed `struct` format (see the header comment).
class PackedFormat {
public:
    /// Parses `format`; throws std::invalid_argument with the offending
    /// character and its offset.
    explicit PackedFormat(std::string_view format);

    /// The format text, as given.
    std::string_view format() const noexcept { return text_; }
    /// Bytes in one record (Python's struct.calcsize).
    std::size_t size() const noexcept { return size_; }
    /// Values in one record: each code counts its repeat count, except `Ns`
    /// (one value) and `x` (none).
    std::size_t value_count() const noexcept { return values_; }
    /// The format code of value `i`; throws std::out_of_range.
    char code(std::size_t i) const;

    /// `values` encoded as one record of size() bytes (see the header
    /// comment for what each code takes); throws std::invalid_argument.
    template <class... Ts>
    std::string pack(const Ts&... values) const {
        const std::array<detail::PackedArg, sizeof...(Ts)> args{detail::packed_arg(values)...};
        return std::string(detail::PackedBytes(text_, args).view());
    }

    /// Internal: where value `i` lies, after checking that it holds a
    /// `want`; throws std::out_of_range or std::invalid_argument.
    detail::PackedSlot slot(std::size_t i, detail::PackedType want) const;

private:
    // A run of values of one code: `count` values of `width` bytes from
    // `offset` (an `Ns` string is one value of width N).
    struct Run {
        std::size_t first_value;
        std::size_t count;
        std::size_t offset;
        std::size_t width;
        char code;
    };
    const Run& run_of(std::size_t i) const;

    std::string text_;
    std::vector<Run> runs_;
    std::size_t size_ = 0;
    std::size_t values_ = 0;
    bool big_endian_ = std::endian::native == std::endian::big;
};

/// A view of one record's bytes through its format. Valid while both are.
class PackedRecord {
public:
    /// Throws std::invalid_argument unless bytes.size() == format.size().
    PackedRecord(const PackedFormat& format, std::string_view bytes);

    /// Values in the record (format().value_count()).
    std::size_t size() const noexcept { return format_->value_count(); }
    std::string_view bytes() const noexcept { return bytes_; }
    const PackedFormat& format() const noexcept { return *format_; }

    /// Value `i` as a T, which must match its code (see the header
    /// comment); throws std::out_of_range or std::invalid_argument.
    template <class T>
    T get(std::size_t i) const {
        const detail::PackedSlot s = format_->slot(i, detail::packed_type_of<T>());
        const char* p = bytes_.data() + s.offset;
        if constexpr (std::is_same_v<T, std::string_view> || std::is_same_v<T, std::string>) {
            return T(p, s.width);
        } else if constexpr (std::is_same_v<T, bool>) {
            return *p != 0;  // Python: any non-zero byte is True
        } else if constexpr (std::is_same_v<T, float>) {
            return std::bit_cast<float>(static_cast<std::uint32_t>(detail::load_unsigned(p, 4, s.big_endian)));
        } else if constexpr (std::is_same_v<T, double>) {
            return std::bit_cast<double>(detail::load_unsigned(p, 8, s.big_endian));
        } else {
            return static_cast<T>(detail::load_unsigned(p, sizeof(T), s.big_endian));
        }
    }

    /// Every value, as a tuple for structured bindings; the number of
    /// types must be size() and each must match its code.
    template <class... Ts>
    std::tuple<Ts...> unpack() const {
        check_count(sizeof...(Ts));
        return unpack_at<Ts...>(std::index_sequence_for<Ts...>{});
    }

private:
    template <class... Ts, std::size_t... I>
    std::tuple<Ts...> unpack_at(std::index_sequence<I...>) const {
        return std::tuple<Ts...>(get<Ts>(I)...);
    }
    // Throws std::invalid_argument unless `n` == size().
    void check_count(std::size_t n) const;

    const PackedFormat* format_;
    std::string_view bytes_;
};

}  // namespace pants
