// Tests for ReadDelimiter, Framer and detail::InputBuffer: every kind of
// framing fed all at once and one byte at a time, as a channel feeds it.
#include <pants/detail/input_buffer.hpp>
#include <pants/read_delimiter.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

using pants::ByteOrder;
using pants::Frame;
using pants::Framer;
using pants::ReadDelimiter;
using pants::detail::InputBuffer;

namespace {

// What a channel did with its input: the frames delivered, the first error,
// and the bytes still buffered at the end.
struct Delivered {
    std::vector<std::string> frames;
    std::error_code error;
    std::string left;
};

// Feeds `chunks` to a Framer through an InputBuffer the way a channel does:
// append each chunk, then deliver frames until one is incomplete.
Delivered feed(const ReadDelimiter& delimiter, const std::vector<std::string>& chunks) {
    Delivered out;
    Framer framer(delimiter);
    InputBuffer buffer;
    for (const auto& chunk : chunks) {
        buffer.append(chunk);
        for (;;) {
            auto frame = framer.next(buffer.view());
            if (!frame) {
                out.error = frame.error();
                out.left = std::string(buffer.view());
                return out;
            }
            if (!*frame)
                break;
            out.frames.emplace_back(buffer.view().substr((*frame)->offset, (*frame)->length));
            buffer.consume((*frame)->consumed);
        }
    }
    out.left = std::string(buffer.view());
    return out;
}

std::vector<std::string> whole(std::string s) { return {std::move(s)}; }

std::vector<std::string> bytewise(const std::string& s) {
    std::vector<std::string> out;
    for (char c : s)
        out.emplace_back(1, c);
    return out;
}

// A length prefix of `width` bytes in `order`, then `payload`.
std::string encode(unsigned width, ByteOrder order, bool inclusive, std::string_view payload) {
    std::uint64_t length = payload.size() + (inclusive ? width : 0);
    std::string prefix(width, '\0');
    for (unsigned i = 0; i < width; ++i) {
        auto byte = static_cast<char>((length >> (8 * i)) & 0xff);
        prefix[order == ByteOrder::little ? i : width - 1 - i] = byte;
    }
    return prefix + std::string(payload);
}

std::optional<Frame> frame_of(const ReadDelimiter& d, std::string_view buffered) {
    auto r = d.next(buffered);
    REQUIRE(r.has_value());
    return *r;
}

}  // namespace

TEST_SUITE("read_delimiter") {

TEST_CASE("no delimiter delivers each chunk as it arrives") {
    ReadDelimiter d;
    CHECK(d.is_none());
    CHECK(d.kind() == ReadDelimiter::Kind::none);
    CHECK(frame_of(d, "") == std::nullopt);
    CHECK(frame_of(d, "abc") == Frame{0, 3, 3});
    auto out = feed(d, {"ab", "c", "def"});
    CHECK(out.frames == std::vector<std::string>{"ab", "c", "def"});
    CHECK(out.left.empty());
}

TEST_CASE("a string delimiter cuts frames up to and without it, all at once") {
    auto out = feed("\r\n", whole("a\r\nbc\r\n\r\nd"));
    CHECK(out.frames == std::vector<std::string>{"a", "bc", ""});
    CHECK(out.left == "d");
    CHECK(!out.error);
}

TEST_CASE("a string delimiter cuts the same frames from bytes fed one at a time") {
    auto out = feed("\r\n", bytewise("a\r\nbc\r\n\r\nd"));
    CHECK(out.frames == std::vector<std::string>{"a", "bc", ""});
    CHECK(out.left == "d");
}

TEST_CASE("a delimiter of several bytes split across chunks is found") {
    auto out = feed("END!", {"xxEN", "D!yy", "E", "ND", "!", "zEND", "!"});
    CHECK(out.frames == std::vector<std::string>{"xx", "yy", "z"});
    CHECK(out.left.empty());
    // A partial match that turns out not to be one, then the real one.
    auto overlap = feed("aab", {"aa", "a", "b", "x"});
    CHECK(overlap.frames == std::vector<std::string>{"a"});
    CHECK(overlap.left == "x");
}

TEST_CASE("delimiters of 8 bytes and longer cut frames, alone and as copies") {
    // Up to 8 bytes are kept inline, longer ones on the heap: both paths,
    // split across chunks, and copies and moves of each.
    for (std::string delimiter : {"12345678", "123456789", "<<--boundary-of-forty-two-bytes----------->>"}) {
        CAPTURE(delimiter);
        ReadDelimiter d(delimiter);
        CHECK(d.delimiter() == delimiter);
        std::string stream = "a" + delimiter + delimiter + "bc" + delimiter + "d";
        std::vector<std::string> want{"a", "", "bc"};
        CHECK(feed(d, whole(stream)).frames == want);
        CHECK(feed(d, bytewise(stream)).frames == want);
        ReadDelimiter copy = d;
        ReadDelimiter assigned;
        assigned = copy;
        ReadDelimiter moved = std::move(copy);
        CHECK(assigned.delimiter() == delimiter);
        CHECK(moved.delimiter() == delimiter);
        CHECK(feed(assigned, whole(stream)).frames == want);
        CHECK(feed(moved, bytewise(stream)).frames == want);
    }
}

TEST_CASE("a copied frame function keeps its own state") {
    // A function with state (frames of 1, 2, 3... bytes): each copy of the
    // delimiter counts from where the copy was made, not together.
    std::size_t next = 1;
    auto growing = [next](std::string_view b) mutable -> pants::Result<std::optional<Frame>> {
        if (b.size() < next)
            return std::nullopt;
        std::size_t n = next++;
        return Frame{0, n, n};
    };
    auto d = ReadDelimiter::function(growing);
    ReadDelimiter copy = d;
    CHECK(feed(d, whole("abbccc")).frames == std::vector<std::string>{"a", "bb", "ccc"});
    CHECK(feed(copy, whole("abbccc")).frames == std::vector<std::string>{"a", "bb", "ccc"});
    // A moved-from one may still be copied, and says it has no function.
    ReadDelimiter moved = std::move(copy);
    ReadDelimiter from_moved = copy;  // NOLINT(bugprone-use-after-move): what is tested
    CHECK_THROWS_AS(from_moved.next("abc"), std::bad_function_call);
    CHECK(feed(moved, whole("abbccc")).frames == std::vector<std::string>{"a", "bb", "ccc"});
}

TEST_CASE("a one-character delimiter can be given as a char") {
    ReadDelimiter d = '\n';
    CHECK(d.kind() == ReadDelimiter::Kind::delimiter);
    CHECK(d.delimiter() == "\n");
    CHECK(feed(d, whole("one\ntwo\n")).frames == std::vector<std::string>{"one", "two"});
}

TEST_CASE("the delimiter search resumes where it stopped instead of rescanning") {
    ReadDelimiter d("XYZ");
    std::size_t scanned = 0;
    CHECK(*d.next("abcdef", scanned) == std::nullopt);
    CHECK(scanned == 4);  // "ef" could still start "XYZ"
    CHECK(*d.next("abcdefXY", scanned) == std::nullopt);
    CHECK(scanned == 6);
    CHECK(*d.next("abcdefXYZtail", scanned) == Frame{0, 6, 9});
    CHECK(scanned == 0);  // relative to "tail", once 9 bytes are dropped
    CHECK(*d.next("tail", scanned) == std::nullopt);
    CHECK(scanned == 2);
    // Shorter than the delimiter: nothing can be ruled out yet.
    std::size_t short_scan = 0;
    CHECK(*d.next("X", short_scan) == std::nullopt);
    CHECK(short_scan == 0);
}

TEST_CASE("a stale scan hint past the buffer end rescans from the start") {
    ReadDelimiter d("\n");
    std::size_t scanned = 100;
    CHECK(*d.next("ab\n", scanned) == Frame{0, 2, 3});
}

TEST_CASE("a count delivers exactly that many bytes") {
    ReadDelimiter d = 4;
    CHECK(d.kind() == ReadDelimiter::Kind::count);
    CHECK(d.count() == 4);
    auto all = feed(d, whole("abcdefghij"));
    CHECK(all.frames == std::vector<std::string>{"abcd", "efgh"});
    CHECK(all.left == "ij");
    auto one = feed(d, bytewise("abcdefghij"));
    CHECK(one.frames == all.frames);
    CHECK(one.left == "ij");
}

TEST_CASE("a count may be any integer type") {
    CHECK(ReadDelimiter(4u).count() == 4);
    CHECK(ReadDelimiter(std::size_t{5}).count() == 5);
    CHECK(ReadDelimiter(6L).count() == 6);
    CHECK(ReadDelimiter(static_cast<std::uint8_t>(7)).count() == 7);
}

TEST_CASE("fixed records deliver binary records of exactly their size") {
    auto d = ReadDelimiter::fixed_record(3);
    std::string bytes("\0\1\2\3\4\5\6", 7);
    auto all = feed(d, whole(bytes));
    CHECK(all.frames == std::vector<std::string>{std::string("\0\1\2", 3), std::string("\3\4\5", 3)});
    CHECK(all.left == std::string("\6", 1));
    CHECK(feed(d, bytewise(bytes)).frames == all.frames);
}

TEST_CASE("length-prefixed frames of every width, order and length meaning") {
    for (unsigned width : {1u, 2u, 4u, 8u}) {
        for (auto order : {ByteOrder::big, ByteOrder::little}) {
            for (bool inclusive : {false, true}) {
                CAPTURE(width);
                CAPTURE(order == ByteOrder::big);
                CAPTURE(inclusive);
                auto d = ReadDelimiter::length_prefixed(width, order, inclusive);
                std::string payload_200(200, 'p');
                std::string stream = encode(width, order, inclusive, "hello") +
                                     encode(width, order, inclusive, "") +
                                     encode(width, order, inclusive, "x") +
                                     (width > 1 ? encode(width, order, inclusive, payload_200) : "") +
                                     encode(width, order, inclusive, "tail").substr(0, width + 2);
                std::vector<std::string> expected{"hello", "", "x"};
                if (width > 1)
                    expected.push_back(payload_200);
                auto all = feed(d, whole(stream));
                CHECK(all.frames == expected);
                CHECK(all.left.size() == width + 2);
                auto one = feed(d, bytewise(stream));
                CHECK(one.frames == expected);
                CHECK(one.left.size() == width + 2);
            }
        }
    }
}

TEST_CASE("a length prefix is read in the byte order asked for") {
    auto big = ReadDelimiter::length_prefixed(2, ByteOrder::big);
    auto little = ReadDelimiter::length_prefixed(2, ByteOrder::little);
    std::string bytes("\x00\x03" "abc", 5);
    CHECK(frame_of(big, bytes) == Frame{2, 3, 5});
    // Little endian reads 0x0300 = 768 bytes: not there yet.
    CHECK(frame_of(little, bytes) == std::nullopt);
    CHECK(little.required_size(bytes) == 2 + 768);
}

TEST_CASE("a zero-length frame is delivered as an empty payload") {
    auto d = ReadDelimiter::length_prefixed(4);
    CHECK(frame_of(d, std::string(4, '\0')) == Frame{4, 0, 4});
    auto inclusive = ReadDelimiter::length_prefixed(1, ByteOrder::big, true);
    CHECK(frame_of(inclusive, std::string("\x01", 1)) == Frame{1, 0, 1});
}

TEST_CASE("a header-inclusive length shorter than the header is bad_message") {
    auto d = ReadDelimiter::length_prefixed(4, ByteOrder::big, true);
    auto out = feed(d, whole(std::string("\0\0\0\3zzz", 7)));
    CHECK(out.frames.empty());
    CHECK(out.error == std::errc::bad_message);
    // The buffered bytes are left alone for the channel to report.
    CHECK(out.left.size() == 7);
}

TEST_CASE("a length no buffer could hold is message_size") {
    auto d = ReadDelimiter::length_prefixed(8);
    auto r = d.next(std::string(8, '\xff'));
    REQUIRE(!r);
    CHECK(r.error() == std::errc::message_size);
    CHECK(d.required_size(std::string(8, '\xff')) == std::nullopt);
}

TEST_CASE("required_size tells how many bytes the next frame needs, when known") {
    CHECK(ReadDelimiter(10).required_size("") == 10);
    CHECK(ReadDelimiter::fixed_record(3).required_size("ab") == 3);
    auto d = ReadDelimiter::length_prefixed(2);
    CHECK(d.required_size("\x01") == std::nullopt);  // prefix not complete
    CHECK(d.required_size(std::string("\x01\x00", 2)) == 2 + 256);
    auto inclusive = ReadDelimiter::length_prefixed(2, ByteOrder::big, true);
    CHECK(inclusive.required_size(std::string("\x01\x00", 2)) == 256);
    CHECK(ReadDelimiter("\n").required_size("abc") == std::nullopt);
    CHECK(ReadDelimiter().required_size("abc") == std::nullopt);
}

TEST_CASE("a user function cuts frames, here netstrings") {
    // "<length>:<payload>," as in D. J. Bernstein's netstrings.
    auto netstring = [](std::string_view b) -> pants::Result<std::optional<Frame>> {
        auto colon = b.find(':');
        if (colon == std::string_view::npos)
            return b.size() > 9 ? pants::fail(std::errc::bad_message)
                                : pants::Result<std::optional<Frame>>(std::nullopt);
        std::size_t length = 0;
        for (char c : b.substr(0, colon)) {
            if (c < '0' || c > '9')
                return pants::fail(std::errc::bad_message);
            length = length * 10 + static_cast<std::size_t>(c - '0');
        }
        if (b.size() < colon + 1 + length + 1)
            return std::nullopt;
        if (b[colon + 1 + length] != ',')
            return pants::fail(std::errc::bad_message);
        return Frame{colon + 1, length, colon + 2 + length};
    };
    auto d = ReadDelimiter::function(netstring);
    CHECK(d.kind() == ReadDelimiter::Kind::function);
    std::string stream = "5:hello,0:,3:abc,2:x";
    auto all = feed(d, whole(stream));
    CHECK(all.frames == std::vector<std::string>{"hello", "", "abc"});
    CHECK(all.left == "2:x");
    CHECK(feed(d, bytewise(stream)).frames == all.frames);

    auto bad = feed(d, whole("3:abc;"));
    CHECK(bad.error == std::errc::bad_message);
}

TEST_CASE("a user function's frame outside the buffered bytes is a programming error") {
    auto past_end = ReadDelimiter::function([](std::string_view b) -> pants::Result<std::optional<Frame>> {
        return Frame{0, b.size() + 1, b.size()};
    });
    CHECK_THROWS_AS((void)past_end.next("abc"), std::out_of_range);
    auto consumes_nothing = ReadDelimiter::function(
        [](std::string_view) -> pants::Result<std::optional<Frame>> { return Frame{0, 0, 0}; });
    CHECK_THROWS_AS((void)consumes_nothing.next("abc"), std::out_of_range);
    auto beyond = ReadDelimiter::function(
        [](std::string_view b) -> pants::Result<std::optional<Frame>> { return Frame{0, 1, b.size() + 1}; });
    CHECK_THROWS_AS((void)beyond.next("abc"), std::out_of_range);
}

TEST_CASE("invalid delimiters are rejected when made") {
    CHECK_THROWS_AS(ReadDelimiter(""), std::invalid_argument);
    CHECK_THROWS_AS(ReadDelimiter(std::string()), std::invalid_argument);
    CHECK_THROWS_AS(ReadDelimiter(static_cast<const char*>(nullptr)), std::invalid_argument);
    CHECK_THROWS_AS(ReadDelimiter(0), std::invalid_argument);
    CHECK_THROWS_AS(ReadDelimiter(-1), std::invalid_argument);
    CHECK_THROWS_AS(ReadDelimiter(0u), std::invalid_argument);
    CHECK_THROWS_AS(ReadDelimiter::fixed_record(0), std::invalid_argument);
    CHECK_THROWS_AS(ReadDelimiter::length_prefixed(3), std::invalid_argument);
    CHECK_THROWS_AS(ReadDelimiter::length_prefixed(0), std::invalid_argument);
    CHECK_THROWS_AS(ReadDelimiter::function(nullptr), std::invalid_argument);
}

TEST_CASE("switching the delimiter mid-stream frames the rest the new way") {
    // A header line, then a body of a size the header gave, as HTTP does.
    Framer framer("\r\n");
    InputBuffer buffer;
    buffer.append("len 3\r\nabcREST");
    auto header = framer.next(buffer.view());
    REQUIRE(header);
    REQUIRE(*header);
    CHECK(buffer.view().substr(0, (*header)->length) == "len 3");
    buffer.consume((*header)->consumed);
    framer.set_delimiter(3);
    auto body = framer.next(buffer.view());
    REQUIRE(body);
    CHECK(*body == Frame{0, 3, 3});
    buffer.consume(3);
    CHECK(buffer.view() == "REST");
}

TEST_CASE("framing a chunk in place, then buffering its rest, keeps the scan") {
    // A channel with an empty buffer frames straight from the received
    // chunk and copies only the incomplete rest into its InputBuffer.
    Framer framer("END");
    std::string_view chunk = "abcdefEN";
    auto r = framer.next(chunk);
    REQUIRE(r);
    CHECK(*r == std::nullopt);
    InputBuffer buffer;
    buffer.append(chunk);
    buffer.append("Dz");
    auto f = framer.next(buffer.view());
    REQUIRE(f);
    CHECK(*f == Frame{0, 6, 9});
}

TEST_CASE("an InputBuffer appends, views and consumes bytes in order") {
    InputBuffer b;
    CHECK(b.empty());
    CHECK(b.view().empty());
    b.append("hello ");
    b.append("world");
    CHECK(b.size() == 11);
    CHECK(b.view() == "hello world");
    b.consume(6);
    CHECK(b.view() == "world");
    b.append("!");
    CHECK(b.view() == "world!");
    b.consume(6);
    CHECK(b.empty());
    b.append("");
    CHECK(b.empty());
}

TEST_CASE("an InputBuffer keeps its capacity across clear and consume") {
    InputBuffer b(64);
    CHECK(b.capacity() >= 64);
    auto capacity = b.capacity();
    b.append(std::string(40, 'a'));
    b.clear();
    CHECK(b.empty());
    b.append(std::string(64, 'b'));
    CHECK(b.capacity() == capacity);
    b.release();
    CHECK(b.capacity() == capacity);  // not empty: release keeps it
    b.consume(64);
    b.release();
    CHECK(b.capacity() == 0);
}

TEST_CASE("an InputBuffer at steady state stops allocating") {
    // Each turn receives 100 bytes and consumes whole 30-byte frames,
    // leaving a partial frame of varying size behind, as a channel does.
    InputBuffer b;
    std::string chunk(100, 'x');
    std::size_t capacity = 0;
    for (int turn = 0; turn < 10000; ++turn) {
        b.append(chunk);
        while (b.size() >= 30)
            b.consume(30);
        if (turn == 100)
            capacity = b.capacity();
        if (turn > 100)
            REQUIRE(b.capacity() == capacity);
    }
    CHECK(capacity <= 512);
}

TEST_CASE("an InputBuffer compacts instead of growing once enough is consumed") {
    InputBuffer b(16);
    auto capacity = b.capacity();
    b.append(std::string(12, 'a') + "bcd");
    b.consume(12);            // gap 12, live 3
    b.append("efghijklm");     // 12 bytes needed, 1 at the back: compaction fits
    CHECK(b.capacity() == capacity);
    CHECK(b.view() == "bcdefghijklm");
}

TEST_CASE("an InputBuffer grows rather than move a large live region often") {
    InputBuffer b(16);
    b.append(std::string(15, 'a'));
    b.consume(1);  // gap 1, live 14: moving 14 bytes to win 1 is not worth it
    b.append("zz");
    CHECK(b.capacity() > 16);
    CHECK(b.view() == std::string(14, 'a') + "zz");
}

TEST_CASE("an InputBuffer can be received into directly") {
    InputBuffer b;
    b.append("ab");
    auto room = b.prepare(5);
    REQUIRE(room.size() >= 5);
    std::memcpy(room.data(), "cdefg", 5);
    b.commit(3);
    CHECK(b.view() == "abcde");
}

TEST_CASE("a moved InputBuffer takes the bytes along") {
    InputBuffer a;
    a.append("data");
    a.consume(1);
    InputBuffer b(std::move(a));
    CHECK(b.view() == "ata");
    CHECK(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    InputBuffer c;
    c = std::move(b);
    CHECK(c.view() == "ata");
}

}  // TEST_SUITE
