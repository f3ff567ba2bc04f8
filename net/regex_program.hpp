// regex_program.hpp (internal): a compiled PCRE2 pattern that cuts frames
// for ReadDelimiter::regex, matching incrementally with partial matches.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <pants/read_delimiter.hpp>
#include <pants/result.hpp>

struct pcre2_real_code_8;

namespace pants::detail {

/// One compiled pattern, immutable after construction and shared by every
/// copy of its ReadDelimiter (PCRE2 compiled code is thread-safe to match).
class RegexProgram {
public:
    /// Compiles `pattern` (and JIT-compiles it for partial matching);
    /// throws std::invalid_argument with PCRE2's message and offset.
    RegexProgram(std::string_view pattern, RegexMode mode);
    ~RegexProgram();
    RegexProgram(const RegexProgram&) = delete;
    RegexProgram& operator=(const RegexProgram&) = delete;

    /// Groups in a match, group 0 included.
    std::size_t groups() const noexcept { return groups_; }
    /// Whether PCRE2's JIT compiled the pattern (else the interpreter runs).
    bool jit() const noexcept { return jit_; }

    /// The first frame in `buffered`, searching from `scanned` (see
    /// ReadDelimiter::next); on a frame, the groups' offsets go to
    /// `ovector` (2 * groups() entries) when it is not null.
    Result<std::optional<Frame>> next(std::string_view buffered, std::size_t& scanned, std::size_t* ovector) const;

    /// The number of the group called `name`, or -1.
    int group_number(std::string_view name) const;

private:
    pcre2_real_code_8* code_ = nullptr;
    std::size_t groups_ = 1;
    RegexMode mode_;
    bool jit_ = false;
};

}  // namespace pants::detail
