// bench/framing: what the framers cost per frame and per byte, without
// sockets: a Framer fed through an InputBuffer chunk by chunk, as a channel
// feeds it. Compares the string delimiter with a regex doing the same job,
// shows that a regex search does not rescan what it already searched (the
// cost per byte stays flat as chunks get smaller and frames longer), and
// times packed records read with unpack<> and written with PackedBytes.
//
//   build-release/bench/framing            (a few seconds; CPU time per thread)
#include <pants/detail/input_buffer.hpp>
#include <pants/read_delimiter.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace {

// Thread CPU time, not wall time: on a shared machine the wall clock
// measures the other processes too.
struct Clock {
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<Clock, duration>;
    static time_point now() noexcept {
        timespec ts;
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return time_point(duration(std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec));
    }
};

// Feeds `stream` in `chunk`-byte pieces `rounds` times; returns ns per
// byte and checks the frame count.
double feed(const pants::ReadDelimiter& d, const std::string& stream, std::size_t chunk, std::size_t frames_each,
            int rounds) {
    pants::Framer framer(d);
    pants::detail::InputBuffer in;
    std::size_t frames = 0;
    const auto start = Clock::now();
    for (int r = 0; r < rounds; ++r) {
        for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
            in.append(std::string_view(stream).substr(pos, chunk));
            for (;;) {
                auto f = framer.next(in.view());
                if (!f || !*f) break;
                ++frames;
                in.consume((*f)->consumed);
            }
        }
    }
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    if (frames != frames_each * std::size_t(rounds)) std::printf("  !! %zu frames, want %zu\n", frames, frames_each * rounds);
    return ns / double(stream.size() * std::size_t(rounds));
}

std::string lines(std::size_t line_length, std::size_t count) {
    std::string s;
    for (std::size_t i = 0; i < count; ++i) s += std::string(line_length, 'a' + char(i % 26)) + "\r\n";
    return s;
}

}  // namespace

int main() {
    std::printf("ns per byte fed (lower is better); frames of N bytes, fed in chunks of C bytes\n");
    std::printf("%-28s %8s %8s %12s\n", "delimiter", "N", "C", "ns/byte");
    const pants::ReadDelimiter text("\r\n");
    const auto regex = pants::ReadDelimiter::regex("\r\n");
    const auto regex_opt = pants::ReadDelimiter::regex("\r?\n");
    const auto open_quote = pants::ReadDelimiter::regex("\r\n\r\n");
    for (std::size_t n : {64u, 1024u, 16384u}) {
        const std::size_t count = (1u << 20) / n;
        const std::string s = lines(n - 2, count);
        for (std::size_t c : {16u, 1460u, 65536u}) {
            std::printf("%-28s %8zu %8zu %12.3f\n", "string \"\\r\\n\"", n, c, feed(text, s, c, count, 4));
            std::printf("%-28s %8zu %8zu %12.3f\n", "regex \"\\r\\n\"", n, c, feed(regex, s, c, count, 4));
            std::printf("%-28s %8zu %8zu %12.3f\n", "regex \"\\r?\\n\"", n, c, feed(regex_opt, s, c, count, 4));
        }
    }
    // One 60 KiB frame fed a byte at a time: a search that rescanned all
    // buffered bytes would cost ~30,000 bytes per byte here.
    {
        const std::string big = std::string(60 * 1024, 'x') + "\r\n\r\n";
        std::printf("%-28s %8zu %8u %12.3f\n", "regex \"\\r\\n\\r\\n\"", big.size(), 1u, feed(open_quote, big, 1, 1, 4));
        std::printf("%-28s %8zu %8u %12.3f\n", "string \"\\r\\n\\r\\n\"", big.size(), 1u,
                    feed(pants::ReadDelimiter("\r\n\r\n"), big, 1, 1, 4));
    }
    // The cost the incremental search does not remove: a match that stays
    // partial (an open quote) is searched again from its start on each
    // chunk, so this is quadratic in the frame, bounded by buffer_size.
    {
        const std::string quoted = "\"" + std::string(60 * 1024, 'x') + "\"";
        const auto quote = pants::ReadDelimiter::regex("\"[^\"]*\"", pants::RegexMode::match);
        for (std::size_t c : {1u, 16u, 1460u})
            std::printf("%-28s %8zu %8zu %12.3f\n", "regex open quote (match)", quoted.size(), c,
                        feed(quote, quoted, c, 1, 1));
    }

    // Packed records: decode every value, encode them again.
    const pants::PackedFormat format("!BIhqd8s");
    std::string records;
    for (int i = 0; i < 4096; ++i) records += format.pack(i % 256, std::uint32_t(i), -i, std::int64_t(i) << 20, i * 0.5, "abcdefgh");
    const int rounds = 200;
    std::uint64_t sum = 0;
    auto start = Clock::now();
    for (int r = 0; r < rounds; ++r)
        for (std::size_t pos = 0; pos < records.size(); pos += format.size()) {
            const pants::PackedRecord rec(format, std::string_view(records).substr(pos, format.size()));
            auto [b, i, h, q, d, s] = rec.unpack<std::uint8_t, std::uint32_t, std::int16_t, std::int64_t, double, std::string_view>();
            sum += b + i + std::uint64_t(h) + std::uint64_t(q) + std::uint64_t(d) + s.size();
        }
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / (4096.0 * rounds);
    std::printf("\npacked \"!BIhqd8s\" unpack<6 values>: %.1f ns per record (checksum %llu)\n", ns,
                static_cast<unsigned long long>(sum));
    start = Clock::now();
    std::size_t bytes = 0;
    for (int r = 0; r < rounds; ++r)
        for (int i = 0; i < 4096; ++i) {
            const std::array<pants::detail::PackedArg, 6> args{
                pants::detail::packed_arg(std::uint8_t(i)), pants::detail::packed_arg(std::uint32_t(i)),
                pants::detail::packed_arg(std::int16_t(-i)), pants::detail::packed_arg(std::int64_t(i)),
                pants::detail::packed_arg(i * 0.5), pants::detail::packed_arg(std::string_view("abcdefgh"))};
            bytes += pants::detail::PackedBytes("!BIhqd8s", args).view().size();
        }
    ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() / (4096.0 * rounds);
    std::printf("packed \"!BIhqd8s\" encode (what write_packed does before write): %.1f ns per record (%zu bytes)\n",
                ns, bytes);
}
