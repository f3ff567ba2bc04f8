// RegexProgram: ReadDelimiter::regex on PCRE2 (pcre2api(3), pcre2partial(3),
// pcre2jit(3)).
//
// Incremental search (pcre2partial, "Multi-segment matching with
// pcre2_match()"): every search runs with PCRE2_PARTIAL_HARD over all the
// bytes buffered since the last frame, starting at `scanned`. A partial
// match says where a match could still begin once more bytes arrive, so
// the next search starts there; no match at all says none can begin before
// the end, so the next search starts at the end. Bytes before `scanned`
// stay in the subject, so lookbehinds and \b still see them. A partial
// match that stays open (an unterminated `"...` in `"[^"]*"`) is searched
// again from its start as bytes arrive; buffer_size bounds that, and the
// match limits below bound each search.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex_program.hpp"

#include <pcre2.h>

#include <stdexcept>

#include <pants/frame_error.hpp>

namespace pants::detail {

namespace {

// Limits per search. PCRE2's default match limit (10,000,000) lets one
// hostile chunk cost a second of CPU; this bounds it to a few
// milliseconds while leaving ordinary delimiters far below it.
constexpr std::uint32_t match_limit = 1'000'000;
// The interpreter's backtracking depth and heap (KiB); the JIT uses its
// own stack, bounded by jit_stack_max.
constexpr std::uint32_t depth_limit = 10'000;
constexpr std::uint32_t heap_limit_kib = 8192;
constexpr std::size_t jit_stack_start = 32 * 1024;
constexpr std::size_t jit_stack_max = 512 * 1024;

// Per-thread match state: match data is written by each match, so it
// cannot live in the shared program; one block per thread, grown to the
// largest group count seen, allocates nothing at steady state.
struct MatchScratch {
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* jit_stack = nullptr;
    pcre2_match_data* data = nullptr;
    std::size_t pairs = 0;

    MatchScratch() {
        context = pcre2_match_context_create(nullptr);
        if (!context) throw std::bad_alloc();
        pcre2_set_match_limit(context, match_limit);
        pcre2_set_depth_limit(context, depth_limit);
        pcre2_set_heap_limit(context, heap_limit_kib);
        jit_stack = pcre2_jit_stack_create(jit_stack_start, jit_stack_max, nullptr);
        if (jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
    }
    ~MatchScratch() {
        pcre2_match_data_free(data);
        pcre2_jit_stack_free(jit_stack);
        pcre2_match_context_free(context);
    }
    MatchScratch(const MatchScratch&) = delete;
    MatchScratch& operator=(const MatchScratch&) = delete;

    pcre2_match_data* data_for(std::size_t groups) {
        if (groups > pairs) {
            pcre2_match_data* fresh = pcre2_match_data_create(std::uint32_t(groups), nullptr);
            if (!fresh) throw std::bad_alloc();
            pcre2_match_data_free(data);
            data = fresh;
            pairs = groups;
        }
        return data;
    }
};

MatchScratch& scratch() {
    thread_local MatchScratch s;
    return s;
}

std::string pcre2_message(int code) {
    PCRE2_UCHAR buffer[256];
    int n = pcre2_get_error_message(code, buffer, sizeof buffer);
    return n < 0 ? "error " + std::to_string(code) : std::string(reinterpret_cast<const char*>(buffer), std::size_t(n));
}

}  // namespace

RegexProgram::RegexProgram(std::string_view pattern, RegexMode mode) : mode_(mode) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    // RegexMode::match anchors at compile time: the JIT does not take
    // PCRE2_ANCHORED at match time (pcre2jit, "Unsupported options").
    const std::uint32_t options = mode == RegexMode::match ? PCRE2_ANCHORED : 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error, &offset,
                          nullptr);
    if (!code_)
        throw std::invalid_argument("read_delimiter: regex does not compile at offset " + std::to_string(offset) +
                                    ": " + pcre2_message(error));
    std::uint32_t captures = 0;
    pcre2_pattern_info(code_, PCRE2_INFO_CAPTURECOUNT, &captures);
    groups_ = std::size_t(captures) + 1;
    // Only partial matches are ever run; without JIT support (or with
    // executable memory forbidden) the interpreter runs, under the same limits.
    jit_ = pcre2_jit_compile(code_, PCRE2_JIT_PARTIAL_HARD) == 0;
}

RegexProgram::~RegexProgram() { pcre2_code_free(code_); }

Result<std::optional<Frame>> RegexProgram::next(std::string_view buffered, std::size_t& scanned,
                                                std::size_t* ovector) const {
    if (mode_ == RegexMode::match) {
        scanned = 0;
        // Nothing yet: an anchored search of no bytes would say "no match".
        if (buffered.empty()) return std::nullopt;
    } else if (scanned > buffered.size()) {
        scanned = 0;  // a stale hint (the caller broke the Framer contract) only costs a rescan
    }
    MatchScratch& s = scratch();
    pcre2_match_data* data = s.data_for(groups_);
    static const char empty = 0;  // PCRE2 10.42 refuses a null subject even when it is empty
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(buffered.empty() ? &empty : buffered.data());
    const int rc = pcre2_match(code_, subject, buffered.size(), scanned, PCRE2_PARTIAL_HARD | PCRE2_NOTEMPTY, data,
                               s.context);
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
    if (rc >= 0) {
        const std::size_t start = ov[0];
        const std::size_t end = ov[1];
        // PCRE2_NOTEMPTY: end > start >= 0, so a frame always consumes bytes.
        if (end <= start || end > buffered.size()) return unexpected(make_error_code(FrameError::regex_failed));
        if (ovector)
            for (std::size_t i = 0; i < 2 * groups_; ++i) ovector[i] = ov[i];
        scanned = 0;
        if (mode_ == RegexMode::match) return Frame{start, end - start, end};
        return Frame{0, start, end};
    }
    switch (rc) {
    case PCRE2_ERROR_PARTIAL:
        // A match may begin at ov[0]; it is never before `scanned`.
        if (mode_ == RegexMode::search) scanned = ov[0];
        return std::nullopt;
    case PCRE2_ERROR_NOMATCH:
        if (mode_ == RegexMode::match) return unexpected(make_error_code(FrameError::no_match));
        scanned = buffered.size();
        return std::nullopt;
    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_JIT_STACKLIMIT:
        return unexpected(make_error_code(FrameError::regex_limit));
    default:
        return unexpected(make_error_code(FrameError::regex_failed));
    }
}

int RegexProgram::group_number(std::string_view name) const {
    const std::string z(name);  // PCRE2 wants it NUL-terminated
    const int n = pcre2_substring_number_from_name(code_, reinterpret_cast<PCRE2_SPTR>(z.c_str()));
    return n < 0 ? -1 : n;
}

}  // namespace pants::detail
