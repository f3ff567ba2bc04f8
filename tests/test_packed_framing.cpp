// Packed records (issue 10): Python struct formats, ReadDelimiter::packed,
// write_packed on streams and datagrams, and their checks.
#include "net_helpers.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

using namespace test;
using pants::Engine;
using pants::PackedFormat;
using pants::PackedRecord;
using pants::ReadDelimiter;

namespace {

std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (int c : b) s += char(c);
    return s;
}

// The message of what `f` throws as E, or "" if it throws nothing.
template <class E, class F>
std::string thrown(F f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// One record holding every code, its `l` and `L` as wide as the prefix says.
template <class Long, class ULong>
struct Every {
    char c;
    std::int8_t b;
    std::uint8_t B;
    std::int16_t h;
    std::uint16_t H;
    std::int32_t i;
    std::uint32_t I;
    Long l;
    ULong L;
    std::int64_t q;
    std::uint64_t Q;
    float f;
    double d;
    bool yes;
    std::string s;
    bool operator==(const Every&) const = default;
};

template <class Long, class ULong>
Every<Long, ULong> extremes(bool low) {
    using L = std::numeric_limits<Long>;
    using UL = std::numeric_limits<ULong>;
    if (low)
        return {'\0', INT8_MIN, 0, INT16_MIN, 0, INT32_MIN, 0, L::min(), 0, INT64_MIN, 0, -1.5f, -0.0, false,
                std::string("ab\0\0\0", 5)};
    return {'\xff', INT8_MAX, UINT8_MAX, INT16_MAX, UINT16_MAX, INT32_MAX, UINT32_MAX, L::max(), UL::max(),
            INT64_MAX, UINT64_MAX, 3.25e38f, 1e308, true, "hello"};
}

template <class Long, class ULong>
Every<Long, ULong> read_every(const PackedRecord& r) {
    auto [c, b, B, h, H, i, I, l, L, q, Q, f, d, yes, s] =
        r.unpack<char, std::int8_t, std::uint8_t, std::int16_t, std::uint16_t, std::int32_t, std::uint32_t, Long,
                 ULong, std::int64_t, std::uint64_t, float, double, bool, std::string_view>();
    return {c, b, B, h, H, i, I, l, L, q, Q, f, d, yes, std::string(s)};
}

// Writes `values` with write_packed over loopback and reads them back with
// a packed read_delimiter, in callback style.
template <class Long, class ULong>
void round_trip(const std::string& format, const std::vector<Every<Long, ULong>>& values) {
    Engine engine;
    std::vector<Every<Long, ULong>> got;
    std::vector<std::string> raw;
    struct Reader : pants::Connection {
        std::function<void(pants::Stream&, std::string_view)> read;
        void on_read(std::string_view data) override { read(*this, data); }
    };
    pants::Server<Reader> server(engine);
    REQUIRE(server.listen(loopback()));
    pants::Client client(engine);
    client.connect(*server.local_address());
    run_until(engine, [&] { return server.connections().size() == 1; });
    auto* conn = static_cast<Reader*>(server.connections()[0]);
    conn->read_delimiter = ReadDelimiter::packed(format);
    conn->read = [&](pants::Stream& s, std::string_view data) {
        raw.emplace_back(data);
        got.push_back(read_every<Long, ULong>(s.read_delimiter.record()));
    };
    for (const auto& v : values)
        client.write_packed(format, v.c, v.b, v.B, v.h, v.H, v.i, v.I, v.l, v.L, v.q, v.Q, v.f, v.d, v.yes, v.s);
    run_until(engine, [&] { return got.size() == values.size(); });
    CHECK(got == values);
    const PackedFormat parsed(format);
    for (const auto& r : raw) CHECK(r.size() == parsed.size());
}

}  // namespace

TEST_CASE("record sizes follow Python's struct.calcsize") {
    CHECK(PackedFormat("!BIh").size() == 7);
    CHECK(PackedFormat("@bi").size() == 8);   // native alignment pads before the int
    CHECK(PackedFormat("=bi").size() == 5);   // standard sizes: no alignment
    CHECK(PackedFormat("bi").size() == 8);    // no prefix is '@'
    CHECK(PackedFormat("@bq").size() == 16);
    CHECK(PackedFormat("@l").size() == sizeof(long));
    CHECK(PackedFormat("<l").size() == 4);
    CHECK(PackedFormat("@b0l").size() == sizeof(long));  // a zero count still aligns
    CHECK(PackedFormat("4h 10s 2x ?").size() == 8 + 10 + 2 + 1);
    CHECK(PackedFormat("0s").size() == 0);
    CHECK(PackedFormat("!4h10s2x?").value_count() == 6);
    CHECK(PackedFormat("!4h10s2x?").code(4) == 's');
}

TEST_CASE("write_packed lays bytes out exactly as Python's struct.pack") {
    // Expected bytes from CPython 3.11 struct.pack on x86-64.
    CHECK(PackedFormat("!HI").pack(0x0102, 0x03040506u) == bytes({1, 2, 3, 4, 5, 6}));
    CHECK(PackedFormat("<HI").pack(0x0102, 0x03040506u) == bytes({2, 1, 6, 5, 4, 3}));
    CHECK(PackedFormat("@bi").pack(1, 2) == bytes({1, 0, 0, 0, 2, 0, 0, 0}));
    CHECK(PackedFormat(">h?x3s").pack(-2, true, "ab") == bytes({0xff, 0xfe, 1, 0, 'a', 'b', 0}));
    CHECK(PackedFormat(">d").pack(1.0) == bytes({0x3f, 0xf0, 0, 0, 0, 0, 0, 0}));
    CHECK(PackedFormat("<f").pack(-2.0f) == bytes({0, 0, 0, 0xc0}));
    CHECK(PackedFormat("!q").pack(std::int64_t(-1)) == std::string(8, '\xff'));
    CHECK(PackedFormat("2c").pack('x', "y") == "xy");
}

TEST_CASE("every code round-trips through write_packed and a packed delimiter in every byte order") {
    const std::string codes = "cbBhHiIlLqQfd?5s";
    round_trip<long, unsigned long>("@" + codes, {extremes<long, unsigned long>(true),
                                                  extremes<long, unsigned long>(false)});
    for (const char* order : {"=", "<", ">", "!"}) {
        CAPTURE(order);
        round_trip<std::int32_t, std::uint32_t>(order + codes, {extremes<std::int32_t, std::uint32_t>(true),
                                                                extremes<std::int32_t, std::uint32_t>(false)});
    }
}

TEST_CASE("records split at every byte come out whole, and a coroutine reads them too") {
    Engine engine;
    std::vector<std::tuple<std::uint8_t, std::uint32_t, std::string>> got;
    auto handler = [&](pants::Stream& s) -> pants::Task<> {
        s.read_delimiter = ReadDelimiter::packed("!BI3s");
        while (auto data = co_await s.read()) {
            auto [kind, id, tag] = s.read_delimiter.record().unpack<std::uint8_t, std::uint32_t, std::string_view>();
            got.emplace_back(kind, id, std::string(tag));
        }
    };
    pants::Server server(handler, engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    const PackedFormat f("!BI3s");
    const std::string stream = f.pack(1, 0xdeadbeefu, "abc") + f.pack(255, 7, "x");
    for (char c : stream) {
        peer.send(std::string_view(&c, 1));
        engine.poll(std::chrono::milliseconds(0));
    }
    run_until(engine, [&] { return got.size() == 2; });
    CHECK(got[0] == std::tuple<std::uint8_t, std::uint32_t, std::string>{1, 0xdeadbeef, "abc"});
    CHECK(got[1] == std::tuple<std::uint8_t, std::uint32_t, std::string>{255, 7, std::string("x\0\0", 3)});
}

TEST_CASE("a bad format is rejected when the delimiter is made, naming the fault") {
    CHECK(contains(thrown<std::invalid_argument>([] { ReadDelimiter::packed("!Iz"); }), "unknown code 'z' at offset 2"));
    CHECK(contains(thrown<std::invalid_argument>([] { ReadDelimiter::packed("I!"); }), "allowed only first"));
    CHECK(contains(thrown<std::invalid_argument>([] { ReadDelimiter::packed("!3"); }), "repeat count without a code"));
    CHECK(contains(thrown<std::invalid_argument>([] { ReadDelimiter::packed("e"); }), "not supported"));
    CHECK(contains(thrown<std::invalid_argument>([] { ReadDelimiter::packed("99999999999999999999s"); }),
                   "too large"));
    CHECK(contains(thrown<std::invalid_argument>([] { ReadDelimiter::packed("0s"); }), "no bytes"));
    CHECK(contains(thrown<std::invalid_argument>([] { ReadDelimiter::packed(""); }), "no bytes"));
    CHECK(contains(thrown<std::invalid_argument>([] { ReadDelimiter::packed(std::string("!\x01", 2)); }), "\\x01"));
}

TEST_CASE("reading a value as the wrong type is a clear error") {
    const PackedFormat f("!Hq3s");
    const std::string data = f.pack(1, 2, "abc");
    const PackedRecord r(f, data);
    CHECK(r.get<std::uint16_t>(0) == 1);
    CHECK(contains(thrown<std::invalid_argument>([&] { (void)r.get<std::int32_t>(0); }),
                   "value 0 is 'H', a 16-bit unsigned integer, not a 32-bit signed integer"));
    CHECK(contains(thrown<std::invalid_argument>([&] { (void)r.get<std::int16_t>(0); }), "16-bit signed"));
    CHECK(contains(thrown<std::invalid_argument>([&] { (void)r.get<double>(1); }), "not a double"));
    CHECK(r.get<long long>(1) == 2);  // any 64-bit signed type reads 'q'
    CHECK(r.get<std::string>(2) == "abc");
    CHECK_THROWS_AS((void)r.get<std::uint16_t>(3), std::out_of_range);
    CHECK(contains(thrown<std::invalid_argument>([&] { (void)r.unpack<std::uint16_t, std::int64_t>(); }),
                   "holds 3 values; unpack asked for 2"));
    CHECK_THROWS_AS(PackedRecord(f, "short"), std::invalid_argument);
}

TEST_CASE("write_packed checks every value and queues nothing when one is wrong") {
    Engine engine;
    pants::Server<pants::Connection> server(engine);
    REQUIRE(server.listen(loopback()));
    pants::Client client(engine);
    client.connect(*server.local_address());
    run_until(engine, [&] { return client.connected(); });
    auto rejected = [&](auto&&... args) {
        const std::string what = thrown<std::invalid_argument>([&] { client.write_packed(args...); });
        CHECK(client.pending_write_bytes() == 0);
        return what;
    };
    CHECK(contains(rejected("!B", 256), "= 256 does not fit 'B'"));
    CHECK(contains(rejected("!b", -129), "does not fit 'b'"));
    CHECK(contains(rejected("!H", -1), "does not fit 'H'"));
    CHECK(contains(rejected("!Q", std::int64_t(-1)), "does not fit 'Q'"));
    CHECK(contains(rejected("!q", std::uint64_t(1) << 63), "does not fit 'q'"));
    CHECK(contains(rejected("!HH", 1), "takes 2 values, got 1"));
    CHECK(contains(rejected("!I", "text"), "cannot be packed as 'I'"));
    CHECK(contains(rejected("!?", 1), "cannot be packed as '?'"));
    CHECK(contains(rejected("!2s", "abc"), "longer than '2s'"));
    CHECK(contains(rejected("!f", 1e300), "too large for 'f'"));
    CHECK(contains(rejected("!Iz", 1), "unknown code 'z'"));
    // The limits themselves fit.
    client.write_packed("!bBhHqQ", -128, 255, -32768, 65535, INT64_MIN, UINT64_MAX);
    CHECK(client.pending_write_bytes() == 1 + 1 + 2 + 2 + 8 + 8);
}

TEST_CASE("record() is an error without a packed frame being delivered") {
    pants::Framer framer(ReadDelimiter::packed("!H"));
    CHECK_THROWS_AS(framer.record(), std::logic_error);
    REQUIRE(framer.next("\x01\x02"));
    CHECK(framer.record().get<std::uint16_t>(0) == 0x0102);
    pants::Framer text(ReadDelimiter(2));
    REQUIRE(text.next("ab"));
    CHECK_THROWS_AS(text.record(), std::logic_error);
}

TEST_CASE("a packed record larger than buffer_size raises the limit, as a byte count does") {
    Engine engine;
    std::size_t size = 0;
    auto handler = [&](pants::Stream& s) -> pants::Task<> {
        s.buffer_size = 16;
        s.read_delimiter = ReadDelimiter::packed("!100sI");
        if (auto data = co_await s.read()) size = s.read_delimiter.record().get<std::uint32_t>(1);
    };
    pants::Server server(handler, engine);
    REQUIRE(server.listen(loopback()));
    pants::Client client(engine);
    client.connect(*server.local_address());
    client.write_packed("!100sI", std::string(100, 'z'), 104u);
    run_until(engine, [&] { return size == 104; });
}

TEST_CASE("datagrams carry packed records both ways") {
    Engine engine;
    std::vector<std::pair<std::int16_t, double>> got;
    struct Receiver : pants::Datagram {
        using pants::Datagram::Datagram;
        std::vector<std::pair<std::int16_t, double>>* got = nullptr;
        void on_read(std::string_view, const pants::Address&) override {
            auto [a, b] = read_delimiter.record().unpack<std::int16_t, double>();
            got->emplace_back(a, b);
        }
    } receiver(engine);
    receiver.got = &got;
    receiver.read_delimiter = ReadDelimiter::packed("<hd");
    REQUIRE(receiver.listen(loopback()));
    pants::Datagram sender(engine);
    sender.write_packed_to(*receiver.local_address(), "<hd", -5, 2.5);
    sender.write_packed("<hd", 7, -0.5);
    run_until(engine, [&] { return got.size() == 2; });
    CHECK(got == std::vector<std::pair<std::int16_t, double>>{{-5, 2.5}, {7, -0.5}});
}
