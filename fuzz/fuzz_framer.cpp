// libFuzzer target for the stream framers (net/read_delimiter.cpp, Framer)
// and the InputBuffer a stream keeps its bytes in (net/input_buffer.cpp).
//
// The input picks a read_delimiter (none, a 1-4 byte string, a byte count,
// a fixed record, a length prefix of every width, byte order and header
// mode, or a user function), a buffer_size, a byte stream and a chunking
// of it. The stream is fed chunk by chunk as a channel does: append to an
// InputBuffer, take every frame the Framer finds, consume it. The frames,
// the error and the bytes left over must equal what a simple reference
// framer, written here over the whole stream at once, gives. Where the
// framer knows the size a frame needs (required_size), that size must be
// the frame's size, known as soon as its header is in, and more than what
// is buffered while the frame is incomplete; the first frame larger than
// buffer_size must be reported exactly when the reference says so.
// Any mismatch aborts.
// Build and run: fuzz/run.sh SECONDS fuzz_framer
#include <pants/detail/input_buffer.hpp>
#include <pants/read_delimiter.hpp>

#include <fuzzer/FuzzedDataProvider.h>

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

enum class Kind { none, delimiter, count, fixed_record, length_prefixed, function };

struct Spec {
    Kind kind = Kind::none;
    std::string delimiter;
    std::size_t count = 1;
    unsigned width = 1;
    ByteOrder order = ByteOrder::big;
    bool includes_header = false;
};

/// What a framing gives over a whole stream: the payloads, the error that
/// stopped it (if any), the bytes left waiting, and the index of the first
/// frame whose total size exceeds the buffer_size limit (count and length
/// prefix only, counted once its header is in the stream).
struct Outcome {
    std::vector<std::string> frames;
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
                       spec.kind == Kind::length_prefixed;
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
    spec.kind = static_cast<Kind>(fdp.ConsumeIntegralInRange<int>(0, 5));
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
                " bytes in " + std::to_string(chunks.size()) + " chunks";
    const Outcome want = reference(spec, stream, chunks, limit);
    const Outcome got = channel(spec, stream, chunks, limit);
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
    if (spec.kind == Kind::count || spec.kind == Kind::fixed_record || spec.kind == Kind::length_prefixed) {
        // The channel sees the oversized frame's header only once its
        // bytes are in, which they are if the reference saw it.
        if (got.oversized != want.oversized) fail("buffer_size overflow reported at a different frame");
    }
    return 0;
}
