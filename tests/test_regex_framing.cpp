// The regex read_delimiter (issue 10): both RegexMode's, groups, chunk
// boundaries at every position, hostile patterns and inputs, overflow,
// and the same frames through callbacks and coroutines over loopback.
#include "net_helpers.hpp"

#include <pants/detail/input_buffer.hpp>

#include <sys/ioctl.h>

#include <stdexcept>

using namespace test;
using pants::Engine;
using pants::FrameError;
using pants::Framer;
using pants::ReadDelimiter;
using pants::RegexMode;

namespace {

// One frame as delivered: its data and its match's groups.
struct Cut {
    std::string data;
    std::vector<std::string> groups;
    bool operator==(const Cut&) const = default;
};

struct Delivered {
    std::vector<Cut> cuts;
    std::error_code error;
    std::string left;
};

std::vector<std::string> groups_of(const pants::RegexMatch& m) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < m.size(); ++i) out.push_back(m.matched(i) ? std::string(m[i]) : "<unset>");
    return out;
}

// Feeds `chunks` through a Framer and an InputBuffer as a channel does.
Delivered feed(const ReadDelimiter& d, const std::vector<std::string>& chunks) {
    Delivered out;
    Framer framer(d);
    pants::detail::InputBuffer in;
    for (const auto& chunk : chunks) {
        in.append(chunk);
        for (;;) {
            auto frame = framer.next(in.view());
            if (!frame) {
                out.error = frame.error();
                out.left = std::string(in.view());
                return out;
            }
            if (!*frame) break;
            out.cuts.push_back({std::string(in.view().substr((*frame)->offset, (*frame)->length)),
                                groups_of(framer.match())});
            in.consume((*frame)->consumed);
        }
    }
    out.left = std::string(in.view());
    return out;
}

// Every way of splitting `s` in two, plus one byte at a time.
std::vector<std::vector<std::string>> splits(const std::string& s) {
    std::vector<std::vector<std::string>> out;
    for (std::size_t k = 0; k <= s.size(); ++k) out.push_back({s.substr(0, k), s.substr(k)});
    std::vector<std::string> bytes;
    for (char c : s) bytes.emplace_back(1, c);
    out.push_back(bytes);
    return out;
}

// The same frames, groups and leftover however `s` is split.
void check_every_split(const ReadDelimiter& d, const std::string& s, const std::vector<Cut>& want,
                       const std::string& left) {
    for (const auto& chunks : splits(s)) {
        CAPTURE(chunks.size());
        CAPTURE(chunks.front().size());
        const Delivered got = feed(d, chunks);
        CHECK(!got.error);
        CHECK(got.cuts == want);
        CHECK(got.left == left);
    }
}

// Bytes still in the kernel's receive queue of `fd`.
int unread_bytes(int fd) {
    int n = 0;
    REQUIRE(::ioctl(fd, FIONREAD, &n) == 0);
    return n;
}

// A server connection that frames with a regex and records each frame
// with its groups.
struct RegexConnection : pants::Connection {
    static inline ReadDelimiter delimiter;
    static inline std::vector<Cut>* cuts = nullptr;
    static inline std::error_code* error = nullptr;
    static inline int* fd_out = nullptr;
    void on_connect() override {
        read_delimiter = delimiter;
        if (fd_out) *fd_out = fd();
    }
    void on_read(std::string_view data) override { cuts->push_back({std::string(data), groups_of(read_delimiter.match())}); }
    void on_read_error(std::error_code e) override { *error = e; }
    void on_overflow_error(std::error_code e) override { *error = e; }
};

}  // namespace

TEST_CASE("a search regex delivers the bytes before each match and consumes the match") {
    const auto d = ReadDelimiter::regex("\r?\n");
    check_every_split(d, "one\r\ntwo\nthree\r\nrest",
                      {{"one", {"\r\n"}}, {"two", {"\n"}}, {"three", {"\r\n"}}}, "rest");
}

TEST_CASE("a match regex delivers the match at the front with its groups") {
    const auto d = ReadDelimiter::regex(R"((\w+)=(\d+)(!)?;)", RegexMode::match);
    check_every_split(d, "a=1;bb=22!;ccc=333;dd",
                      {{"a=1;", {"a=1;", "a", "1", "<unset>"}},
                       {"bb=22!;", {"bb=22!;", "bb", "22", "!"}},
                       {"ccc=333;", {"ccc=333;", "ccc", "333", "<unset>"}}},
                      "dd");
}

TEST_CASE("named groups are found by name") {
    Framer framer(ReadDelimiter::regex(R"((?<key>\w+):(?<value>\w+)\n)", RegexMode::match));
    auto frame = framer.next("host:example\n");
    REQUIRE(frame);
    REQUIRE(*frame);
    CHECK(framer.match().group("key") == "host");
    CHECK(framer.match().group("value") == "example");
    CHECK(framer.match().position(2) == 5);
    CHECK_THROWS_AS(framer.match().group("missing"), std::invalid_argument);
    CHECK_THROWS_AS(framer.match().group(3), std::out_of_range);
}

TEST_CASE("a match that more bytes could still change waits for them") {
    // `\n+` could take the next byte too; `\n` could not.
    CHECK(feed(ReadDelimiter::regex("\n+"), {"a\n\n"}).cuts.empty());
    const auto more = feed(ReadDelimiter::regex("\n+"), {"a\n\n", "b"});
    REQUIRE(more.cuts.size() == 1);
    CHECK(more.cuts[0] == Cut{"a", {"\n\n"}});
    CHECK(feed(ReadDelimiter::regex("\n"), {"a\n"}).cuts.size() == 1);
    check_every_split(ReadDelimiter::regex("\n+"), "a\n\n\nb\nc", {{"a", {"\n\n\n"}}, {"b", {"\n"}}}, "c");
}

TEST_CASE("an empty match never counts") {
    check_every_split(ReadDelimiter::regex("x*"), "abxxcxd", {{"ab", {"xx"}}, {"c", {"x"}}}, "d");
}

TEST_CASE("a lookbehind sees bytes of earlier chunks of the same frame") {
    check_every_split(ReadDelimiter::regex("(?<=END);"), "a;b;END;c", {{"a;b;END", {";"}}}, "c");
}

TEST_CASE("the search resumes where a match could still begin, not from the start") {
    const auto d = ReadDelimiter::regex("\r\n");
    std::size_t scanned = 0;
    auto r = d.next("abcdef", scanned);
    REQUIRE(r);
    CHECK(!*r);
    CHECK(scanned == 6);  // no match can begin in these bytes
    r = d.next("abcdef\r", scanned);
    REQUIRE(r);
    CHECK(!*r);
    CHECK(scanned == 6);  // a match may begin at the \r
    r = d.next("abcdef\r\n", scanned);
    REQUIRE(r);
    REQUIRE(*r);
    CHECK(**r == pants::Frame{0, 6, 8});
    CHECK(scanned == 0);
}

TEST_CASE("bytes that can never start a match fail a match regex at once") {
    const auto got = feed(ReadDelimiter::regex("GET (\\S+)\r\n", RegexMode::match), {"GET /a\r\n", "POST"});
    REQUIRE(got.cuts.size() == 1);
    CHECK(got.cuts[0].groups[1] == "/a");
    CHECK(got.error == FrameError::no_match);
    // A prefix of a match waits instead.
    CHECK(!feed(ReadDelimiter::regex("GET (\\S+)\r\n", RegexMode::match), {"GE"}).error);
}

TEST_CASE("catastrophic backtracking hits the match limit instead of hanging") {
    const std::string input = std::string(64, 'a') + "c";
    for (auto mode : {RegexMode::search, RegexMode::match}) {
        const auto got = feed(ReadDelimiter::regex("(a+)+b", mode), {input});
        CHECK(got.error == FrameError::regex_limit);
        CHECK(got.cuts.empty());
    }
    // A deep recursion of nested groups is bounded as well.
    const auto deep = feed(ReadDelimiter::regex("(?:(a)|b)*+c|(a|aa)*+d|(a+)+z"), {std::string(20000, 'a') + "!"});
    CHECK((deep.error == FrameError::regex_limit || (!deep.error && deep.cuts.empty())));
}

TEST_CASE("a pattern that does not compile is rejected when the delimiter is made") {
    try {
        (void)ReadDelimiter::regex("ab(c");
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        CHECK(what.find("offset 4") != std::string::npos);
        CHECK(what.find("missing closing parenthesis") != std::string::npos);
    }
    CHECK_THROWS_AS(ReadDelimiter::regex("a{2,1}"), std::invalid_argument);
    CHECK_THROWS_AS(ReadDelimiter::regex("(?<=a+)b"), std::invalid_argument);
}

TEST_CASE("match() is an error without a regex frame being delivered") {
    Framer regex(ReadDelimiter::regex(";"));
    CHECK_THROWS_AS(regex.match(), std::logic_error);
    auto none = regex.next("abc");
    REQUIRE(none);
    CHECK_THROWS_AS(regex.match(), std::logic_error);
    Framer text(ReadDelimiter(";"));
    REQUIRE(text.next("a;"));
    CHECK_THROWS_AS(text.match(), std::logic_error);
}

TEST_CASE("regex frames split at every byte over loopback reach on_read with their groups") {
    Engine engine;
    std::vector<Cut> cuts;
    std::error_code error;
    int server_fd = -1;
    RegexConnection::delimiter = ReadDelimiter::regex(R"(([a-z]+)=(\d+);)", RegexMode::match);
    RegexConnection::cuts = &cuts;
    RegexConnection::error = &error;
    RegexConnection::fd_out = &server_fd;
    pants::Server<RegexConnection> server(engine);
    REQUIRE(server.listen(loopback()));
    RawPeer peer = RawPeer::connect_to(*server.local_address());
    run_until(engine, [&] { return server_fd >= 0; });
    const std::string stream = "alpha=1;beta=22;gamma=333;";
    for (char c : stream) {
        // One byte, received by the channel before the next is sent, so
        // each byte is a chunk of its own (as far as the kernel allows).
        peer.send(std::string_view(&c, 1));
        run_until(engine, [&] { return unread_bytes(server_fd) == 0; });
        engine.poll(std::chrono::milliseconds(0));
    }
    run_until(engine, [&] { return cuts.size() == 3; });
    CHECK(!error);
    CHECK(cuts == std::vector<Cut>{{"alpha=1;", {"alpha=1;", "alpha", "1"}},
                                   {"beta=22;", {"beta=22;", "beta", "22"}},
                                   {"gamma=333;", {"gamma=333;", "gamma", "333"}}});
    RegexConnection::fd_out = nullptr;
}

TEST_CASE("a coroutine reads regex frames and their groups with co_await read()") {
    Engine engine;
    std::vector<Cut> cuts;
    auto handler = [&](pants::Stream& s) -> pants::Task<> {
        s.read_delimiter = ReadDelimiter::regex(R"(\r?\n(?:(-)|))");
        while (auto line = co_await s.read()) cuts.push_back({std::string(*line), groups_of(s.read_delimiter.match())});
    };
    pants::Server server(handler, engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    client.write("one\r\n");
    client.write("-two\nthree\r\nx");
    client.end();
    run_until(engine, [&] { return cuts.size() == 3 && client.closes == 1; });
    CHECK(cuts == std::vector<Cut>{{"one", {"\r\n-", "-"}}, {"two", {"\n", "<unset>"}}, {"three", {"\r\n", "<unset>"}}});
}

TEST_CASE("a hostile regex input closes that connection with regex_limit; others go on") {
    Engine engine;
    std::vector<Cut> cuts;
    std::error_code error;
    RegexConnection::delimiter = ReadDelimiter::regex("(a+)+b");
    RegexConnection::cuts = &cuts;
    RegexConnection::error = &error;
    pants::Server<RegexConnection> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder hostile(engine), fine(engine);
    hostile.connect(*server.local_address());
    fine.connect(*server.local_address());
    hostile.write(std::string(100, 'a') + "c");
    run_until(engine, [&] { return hostile.closes == 1; });
    CHECK(error == FrameError::regex_limit);
    fine.write("xab");
    run_until(engine, [&] { return cuts.size() == 1; });
    CHECK(cuts[0].data == "x");
    CHECK(fine.closes == 0);
}

TEST_CASE("a regex that never matches within buffer_size overflows") {
    Engine engine;
    std::vector<Cut> cuts;
    std::error_code error;
    RegexConnection::delimiter = ReadDelimiter::regex("\r\n\r\n");
    RegexConnection::cuts = &cuts;
    RegexConnection::error = &error;
    pants::Server<RegexConnection> server(engine);
    REQUIRE(server.listen(loopback()));
    Recorder client(engine);
    client.connect(*server.local_address());
    client.write("head\r\n\r\n" + std::string(70000, 'x'));
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(error == pants::NetError::buffer_overflow);
    REQUIRE(cuts.size() == 1);
    CHECK(cuts[0].data == "head");
}
