// libFuzzer target for the stream framers (net/read_delimiter.cpp, Framer)
// and the InputBuffer a stream keeps its bytes in (net/input_buffer.cpp).
//
// The input picks a read_delimiter (none, a 1-4 byte string, a byte count,
// a fixed record, a length prefix of every width, byte order and header
// mode, a user function, a regex in either RegexMode, or a packed struct
// format), a buffer_size, a byte stream and a chunking of it. The stream is fed chunk by chunk as a channel does: append to an
// InputBuffer, take every frame the Framer finds, consume it. The frames,
// the error and the bytes left over must equal what a simple reference
// framer, written here over the whole stream at once, gives. Where the
// framer knows the size a frame needs (required_size), that size must be
// the frame's size, known as soon as its header is in, and more than what
// is buffered while the frame is incomplete; the first frame larger than
// buffer_size must be reported exactly when the reference says so.
// A regex's reference is PCRE2's interpreter run directly over the whole
// stream (the channel runs the JIT, incrementally, chunk by chunk): the
// frames and every group must agree (a search that hit a match limit on
// either side proves nothing and is skipped). A pattern or format that
// does not compile must throw std::invalid_argument, nothing else. Each
// packed record must decode, re-encode and decode to the same values.
// Any mismatch aborts.
// Build and run: fuzz/run.sh SECONDS fuzz_framer
#include <pants/detail/input_buffer.hpp>
#include <pants/read_delimiter.hpp>

#include <fuzzer/FuzzedDataProvider.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cmath>
#include <cstring>
#include <stdexcept>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using pants::ByteOrder;
using pants::Frame;
using pants::ReadDelimiter;

// What the current input is, for the report of a failure.
std::string described;

[[noreturn]] void fail(const char* what, std::size_t index = 0) {
    std::fprintf(stderr, "fuzz_framer: %s (frame %zu)\n  %s\n", what, index, described.c_str());
    std::abort();
}

enum class Kind { none, delimiter, count, fixed_record, length_prefixed, function, regex, packed };

struct Spec {
    Kind kind = Kind::none;
    std::string delimiter;
    std::size_t count = 1;
    unsigned width = 1;
    ByteOrder order = ByteOrder::big;
    bool includes_header = false;
    std::string pattern;  // regex; packed: the format
    pants::RegexMode mode = pants::RegexMode::search;
};

/// What a framing gives over a whole stream: the payloads, the error that
/// stopped it (if any), the bytes left waiting, and the index of the first
/// frame whose total size exceeds the buffer_size limit (count and length
/// prefix only, counted once its header is in the stream).
struct Outcome {
    std::vector<std::string> frames;
    std::vector<std::vector<std::string>> groups;  // regex: each frame's groups
    std::error_code error;
    std::string left;
    std::optional<std::size_t> oversized;
};

// The announced length of a prefix, computed the obvious way.
bool reference_length(const Spec& spec, std::string_view header, std::size_t& payload, std::error_code& error) {
    unsigned __int128 value = 0;
    for (unsigned i = 0; i < spec.width; ++i) {
        const unsigned byte = static_cast<unsigned char>(
            spec.order == ByteOrder::big ? header[i] : header[spec.width - 1 - i]);
        value = value * 256 + byte;
    }
    if (spec.includes_header) {
        if (value < spec.width) {
            error = std::make_error_code(std::errc::bad_message);
            return false;
        }
        value -= spec.width;
    }
    if (value + spec.width > SIZE_MAX) {
        error = std::make_error_code(std::errc::message_size);
        return false;
    }
    payload = static_cast<std::size_t>(value);
    return true;
}

// The reference: the whole stream at once, no search hints, no buffer.
Outcome reference(const Spec& spec, std::string_view stream, const std::vector<std::size_t>& chunks,
                  std::size_t limit) {
    Outcome out;
    std::size_t pos = 0;
    switch (spec.kind) {
    case Kind::none:
        // Each non-empty chunk as it arrives.
        for (std::size_t n : chunks) {
            if (n != 0) out.frames.emplace_back(stream.substr(pos, n));
            pos += n;
        }
        break;
    case Kind::delimiter:
        for (;;) {
            const std::size_t hit = stream.find(spec.delimiter, pos);
            if (hit == std::string_view::npos) break;
            out.frames.emplace_back(stream.substr(pos, hit - pos));
            pos = hit + spec.delimiter.size();
        }
        break;
    case Kind::count:
    case Kind::fixed_record:
        while (stream.size() - pos >= spec.count) {
            out.frames.emplace_back(stream.substr(pos, spec.count));
            pos += spec.count;
        }
        // A count is known before any byte: too large from the first chunk on.
        if (spec.count > limit && !chunks.empty()) out.oversized = 0;
        break;
    case Kind::regex:
    case Kind::packed:
        break;  // reference_regex(); packed records are checked frame by frame
    case Kind::length_prefixed:
    case Kind::function:
        while (stream.size() - pos >= spec.width) {
            std::size_t payload = 0;
            if (!reference_length(spec, stream.substr(pos, spec.width), payload, out.error)) break;
            if (!out.oversized && spec.width + payload > limit) out.oversized = out.frames.size();
            if (stream.size() - pos - spec.width < payload) break;
            out.frames.emplace_back(stream.substr(pos + spec.width, payload));
            pos += spec.width + payload;
        }
        break;
    }
    out.left = std::string(stream.substr(pos));
    return out;
}

// What a group holds, or a mark for one that did not take part.
std::string group_text(std::string_view subject, std::size_t start, std::size_t end) {
    if (start == PCRE2_UNSET || end == PCRE2_UNSET || start > end) return "<unset>";
    return std::string(subject.substr(start, end - start));
}

// The regex reference: PCRE2's interpreter (no JIT) over everything after
// the last frame, with the options the framer documents, restarting from
// the front after each frame. Returns false when a limit was hit.
bool reference_regex(const Spec& spec, std::string_view stream, Outcome& out) {
    int err = 0;
    PCRE2_SIZE at = 0;
    const std::uint32_t options = spec.mode == pants::RegexMode::match ? PCRE2_ANCHORED : 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(spec.pattern.data()), spec.pattern.size(), options,
                                     &err, &at, nullptr);
    if (!code) fail("the reference cannot compile a pattern the framer compiled");
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
    pcre2_match_context* mc = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(mc, 1'000'000);
    pcre2_set_depth_limit(mc, 10'000);
    pcre2_set_heap_limit(mc, 8192);
    bool conclusive = true;
    std::size_t pos = 0;
    for (;;) {
        const std::string_view rest = stream.substr(pos);
        if (rest.empty()) break;
        const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(rest.data()), rest.size(), 0,
                                   PCRE2_PARTIAL_HARD | PCRE2_NOTEMPTY | PCRE2_NO_JIT, md, mc);
        if (rc == PCRE2_ERROR_PARTIAL) break;
        if (rc == PCRE2_ERROR_NOMATCH) {
            if (spec.mode == pants::RegexMode::match) out.error = pants::FrameError::no_match;
            break;
        }
        if (rc < 0) {
            conclusive = rc != PCRE2_ERROR_MATCHLIMIT && rc != PCRE2_ERROR_DEPTHLIMIT && rc != PCRE2_ERROR_HEAPLIMIT;
            out.error = pants::FrameError::regex_failed;
            break;
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const std::uint32_t pairs = pcre2_get_ovector_count(md);
        std::vector<std::string> groups;
        for (std::uint32_t i = 0; i < pairs; ++i)
            groups.push_back(i < std::uint32_t(rc) ? group_text(rest, ov[2 * i], ov[2 * i + 1]) : "<unset>");
        if (spec.mode == pants::RegexMode::match)
            out.frames.emplace_back(rest.substr(ov[0], ov[1] - ov[0]));
        else
            out.frames.emplace_back(rest.substr(0, ov[0]));
        out.groups.push_back(std::move(groups));
        pos += ov[1];
    }
    out.left = std::string(stream.substr(pos));
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    return conclusive;
}

// A packed record decoded value by value, re-encoded, and decoded again:
// the values must survive (NaNs compare as NaNs: a signalling NaN may be
// quieted through double).
void check_packed_record(const pants::PackedFormat& format, std::string_view bytes, std::size_t index) {
    using pants::detail::PackedArg;
    using pants::detail::packed_arg;
    const pants::PackedRecord record(format, bytes);
    std::vector<PackedArg> args;
    std::vector<std::string> strings;  // keeps the bytes of `s` values alive
    strings.reserve(record.size());
    for (std::size_t i = 0; i < record.size(); ++i) {
        switch (format.code(i)) {
        case 'c': args.push_back(packed_arg(record.get<char>(i))); break;
        case 'b': args.push_back(packed_arg(record.get<std::int8_t>(i))); break;
        case 'B': args.push_back(packed_arg(record.get<std::uint8_t>(i))); break;
        case 'h': args.push_back(packed_arg(record.get<std::int16_t>(i))); break;
        case 'H': args.push_back(packed_arg(record.get<std::uint16_t>(i))); break;
        case 'i': args.push_back(packed_arg(record.get<std::int32_t>(i))); break;
        case 'I': args.push_back(packed_arg(record.get<std::uint32_t>(i))); break;
        case 'l':
            try {
                args.push_back(packed_arg(record.get<std::int32_t>(i)));
            } catch (const std::invalid_argument&) {
                args.push_back(packed_arg(record.get<long>(i)));  // native: a long
            }
            break;
        case 'L':
            try {
                args.push_back(packed_arg(record.get<std::uint32_t>(i)));
            } catch (const std::invalid_argument&) {
                args.push_back(packed_arg(record.get<unsigned long>(i)));
            }
            break;
        case 'q': args.push_back(packed_arg(record.get<std::int64_t>(i))); break;
        case 'Q': args.push_back(packed_arg(record.get<std::uint64_t>(i))); break;
        case 'f': args.push_back(packed_arg(record.get<float>(i))); break;
        case 'd': args.push_back(packed_arg(record.get<double>(i))); break;
        case '?': args.push_back(packed_arg(record.get<bool>(i))); break;
        case 's':
            strings.push_back(record.get<std::string>(i));
            args.push_back(packed_arg(std::string_view(strings.back())));
            break;
        default: fail("a value with an unknown code", index);
        }
    }
    const pants::detail::PackedBytes again(format.format(), args);
    if (again.view().size() != bytes.size()) fail("a re-encoded record has another size", index);
    const pants::PackedRecord second(format, again.view());
    for (std::size_t i = 0; i < record.size(); ++i) {
        const char code = format.code(i);
        bool same = true;
        if (code == 'f') {
            const float a = record.get<float>(i), b = second.get<float>(i);
            same = (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
        } else if (code == 'd') {
            const double a = record.get<double>(i), b = second.get<double>(i);
            same = (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
        } else if (code == '?') {
            same = record.get<bool>(i) == second.get<bool>(i);
        } else {
            const auto slot = format.slot(i, code == 's' ? pants::detail::packed_type_of<std::string_view>()
                                                        : args[i].type);
            same = bytes.substr(slot.offset, slot.width) == again.view().substr(slot.offset, slot.width);
        }
        if (!same) fail("a packed value changed through a re-encoding", index);
    }
}

ReadDelimiter make_delimiter(const Spec& spec) {
    switch (spec.kind) {
    case Kind::none: return ReadDelimiter();
    case Kind::delimiter:
        return spec.delimiter.size() == 1 ? ReadDelimiter(spec.delimiter[0]) : ReadDelimiter(spec.delimiter);
    case Kind::count: return ReadDelimiter(spec.count);
    case Kind::fixed_record: return ReadDelimiter::fixed_record(spec.count);
    case Kind::length_prefixed: return ReadDelimiter::length_prefixed(spec.width, spec.order, spec.includes_header);
    case Kind::function: {
        // A user function doing the same length-prefixed framing, to drive
        // the function path (and its frame checks) through the Framer.
        const ReadDelimiter inner = ReadDelimiter::length_prefixed(spec.width, spec.order, spec.includes_header);
        return ReadDelimiter::function([inner](std::string_view buffered) { return inner.next(buffered); });
    }
    case Kind::regex: return ReadDelimiter::regex(spec.pattern, spec.mode);
    case Kind::packed: return ReadDelimiter::packed(spec.pattern);
    }
    return ReadDelimiter();
}

// The channel's side: chunks into an InputBuffer, frames out of a Framer.
Outcome channel(const Spec& spec, std::string_view stream, const std::vector<std::size_t>& chunks,
                std::size_t limit) {
    Outcome out;
    pants::Framer framer(make_delimiter(spec));
    pants::detail::InputBuffer in;
    std::size_t pos = 0;
    const bool sized = spec.kind == Kind::count || spec.kind == Kind::fixed_record ||
                       spec.kind == Kind::length_prefixed || spec.kind == Kind::packed;
    for (std::size_t n : chunks) {
        in.append(stream.substr(pos, n));
        pos += n;
        for (;;) {
            const std::string_view view = in.view();
            auto need = framer.required_size(view);
            auto frame = framer.next(view);
            if (!frame) {
                out.error = frame.error();
                out.left = std::string(in.view());
                return out;
            }
            if (sized) {
                // A count is known at once; a prefix once its bytes are in.
                const bool header_in = spec.kind != Kind::length_prefixed || view.size() >= spec.width;
                if (header_in != need.has_value()) fail("required_size() known at the wrong time", out.frames.size());
                if (need && *need > limit && !out.oversized) out.oversized = out.frames.size();
            } else if (need) {
                fail("required_size() known for a kind without sizes", out.frames.size());
            }
            if (!*frame) {
                if (need && *need <= view.size()) fail("incomplete, yet required_size() is buffered", out.frames.size());
                break;
            }
            const Frame& f = **frame;
            if (f.consumed == 0 || f.consumed > view.size() || f.offset + f.length > f.consumed)
                fail("a frame outside the buffered bytes", out.frames.size());
            if (need && *need != f.consumed) fail("required_size() differs from the frame's size", out.frames.size());
            out.frames.emplace_back(view.substr(f.offset, f.length));
            if (spec.kind == Kind::regex) {
                const pants::RegexMatch m = framer.match();
                std::vector<std::string> groups;
                for (std::size_t i = 0; i < m.size(); ++i)
                    groups.push_back(m.matched(i) ? std::string(m[i]) : "<unset>");
                out.groups.push_back(std::move(groups));
            } else if (spec.kind == Kind::packed) {
                check_packed_record(*framer.delimiter().packed_format(), out.frames.back(), out.frames.size() - 1);
            }
            in.consume(f.consumed);
        }
    }
    out.left = std::string(in.view());
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider fdp(data, size);
    Spec spec;
    spec.kind = static_cast<Kind>(fdp.ConsumeIntegralInRange<int>(0, 7));
    const std::size_t limit = fdp.ConsumeIntegralInRange<std::size_t>(1, 1 << 12);
    switch (spec.kind) {
    case Kind::none: break;
    case Kind::delimiter:
        spec.delimiter = fdp.ConsumeBytesAsString(fdp.ConsumeIntegralInRange<std::size_t>(1, 4));
        if (spec.delimiter.empty()) spec.delimiter = "\n";
        break;
    case Kind::count:
    case Kind::fixed_record: spec.count = fdp.ConsumeIntegralInRange<std::size_t>(1, 1 << 13); break;
    case Kind::length_prefixed:
    case Kind::function: {
        static constexpr unsigned widths[] = {1, 2, 4, 8};
        spec.width = widths[fdp.ConsumeIntegralInRange<int>(0, 3)];
        spec.order = fdp.ConsumeBool() ? ByteOrder::little : ByteOrder::big;
        spec.includes_header = fdp.ConsumeBool();
        break;
    }
    case Kind::regex:
        spec.mode = fdp.ConsumeBool() ? pants::RegexMode::match : pants::RegexMode::search;
        spec.pattern = fdp.ConsumeBytesAsString(fdp.ConsumeIntegralInRange<std::size_t>(1, 24));
        break;
    case Kind::packed:
        spec.pattern = fdp.ConsumeBytesAsString(fdp.ConsumeIntegralInRange<std::size_t>(0, 16));
        break;
    }
    if (spec.kind == Kind::regex || spec.kind == Kind::packed) {
        // A pattern or format that does not compile throws
        // std::invalid_argument (anything else escapes and is reported).
        try {
            (void)make_delimiter(spec);
        } catch (const std::invalid_argument&) {
            return 0;
        }
        if (spec.kind == Kind::packed && pants::PackedFormat(spec.pattern).size() > (1 << 13)) return 0;
    }
    // The stream takes the bytes from the front; chunk sizes come from the
    // back (FuzzedDataProvider reads integers from the end).
    const std::size_t stream_size = fdp.ConsumeIntegralInRange<std::size_t>(0, fdp.remaining_bytes());
    const std::string stream = fdp.ConsumeBytesAsString(stream_size);
    std::vector<std::size_t> chunks;
    std::size_t fed = 0;
    while (fed < stream.size()) {
        std::size_t n = fdp.remaining_bytes() ? fdp.ConsumeIntegralInRange<std::size_t>(0, 64) : stream.size() - fed;
        if (n > stream.size() - fed) n = stream.size() - fed;
        chunks.push_back(n);
        fed += n;
    }

    described = "kind " + std::to_string(int(spec.kind)) + ", delimiter size " + std::to_string(spec.delimiter.size()) +
                ", count " + std::to_string(spec.count) + ", width " + std::to_string(spec.width) +
                (spec.order == ByteOrder::big ? " big" : " little") + (spec.includes_header ? " with header" : "") +
                ", buffer_size " + std::to_string(limit) + ", stream " + std::to_string(stream.size()) +
                " bytes in " + std::to_string(chunks.size()) + " chunks" +
                (spec.pattern.empty() ? "" : ", pattern/format of " + std::to_string(spec.pattern.size()) + " bytes") +
                (spec.kind == Kind::regex && spec.mode == pants::RegexMode::match ? " (match mode)" : "");
    Outcome want = reference(spec, stream, chunks, limit);
    if (spec.kind == Kind::packed) {
        const std::size_t record = pants::PackedFormat(spec.pattern).size();
        std::size_t pos = 0;
        for (; stream.size() - pos >= record; pos += record) want.frames.emplace_back(stream.substr(pos, record));
        want.left = stream.substr(pos);
        if (record > limit && !chunks.empty()) want.oversized = 0;
    }
    const bool conclusive = spec.kind != Kind::regex || reference_regex(spec, stream, want);
    const Outcome got = channel(spec, stream, chunks, limit);
    if (spec.kind == Kind::regex && (!conclusive || got.error == pants::FrameError::regex_limit)) {
        // A match limit met on one side proves nothing about the other;
        // the frames before it must still agree.
        for (std::size_t i = 0; i < std::min(got.frames.size(), want.frames.size()); ++i)
            if (got.frames[i] != want.frames[i] || got.groups[i] != want.groups[i])
                fail("a frame before a match limit differs from the reference", i);
        return 0;
    }
    if (got.groups != want.groups) fail("a regex frame's groups differ from the reference");
    if (got.frames.size() != want.frames.size()) {
        std::fprintf(stderr, "frames: got %zu, want %zu\n", got.frames.size(), want.frames.size());
        fail("a different number of frames");
    }
    for (std::size_t i = 0; i < got.frames.size(); ++i)
        if (got.frames[i] != want.frames[i]) fail("a frame differs from the reference", i);
    if (got.error != want.error) fail("a different error");
    // An error closes the channel: what was left unread then is moot.
    if (!got.error && got.left != want.left) {
        std::fprintf(stderr, "left: got %zu bytes, want %zu; frames %zu\n", got.left.size(), want.left.size(),
                     got.frames.size());
        fail("different bytes left waiting");
    }
    if (spec.kind == Kind::count || spec.kind == Kind::fixed_record || spec.kind == Kind::length_prefixed ||
        spec.kind == Kind::packed) {
        // The channel sees the oversized frame's header only once its
        // bytes are in, which they are if the reference saw it.
        if (got.oversized != want.oversized) fail("buffer_size overflow reported at a different frame");
    }
    return 0;
}
