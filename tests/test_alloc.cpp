// The steady-state echo path allocates nothing per message (DESIGN.md,
// Speed and size): operator new is counted around 2,000 round trips.
#include "net_helpers.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "alloc_counter.hpp"

using namespace test;
using pants::Engine;

namespace {

struct Echo : pants::Connection {
    void on_read(std::string_view data) override { write(data); }
};

pants::Task<> echo(pants::Stream& s) {
    while (auto data = co_await s.read()) co_await s.write(*data);
}

// A raw non-blocking client: the test's own side must not allocate either.
struct RawClient {
    int fd;
    explicit RawClient(const pants::Address& a) {
        fd = ::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(::connect(fd, a.data(), a.size()) == 0);
        ::fcntl(fd, F_SETFL, O_NONBLOCK);
    }
    ~RawClient() { ::close(fd); }
    // One 64-byte message there and back, driving the engine meanwhile.
    bool round_trip(Engine& engine) {
        char out[64], in[64];
        std::memset(out, 'x', sizeof out);
        if (::write(fd, out, sizeof out) != ssize_t(sizeof out)) return false;
        std::size_t got = 0;
        for (int turns = 0; got < sizeof in && turns < 100000; ++turns) {
            engine.poll(std::chrono::milliseconds(10));
            ssize_t n = ::recv(fd, in + got, sizeof in - got, MSG_DONTWAIT);
            if (n > 0) got += std::size_t(n);
        }
        return got == sizeof in && std::memcmp(in, out, sizeof in) == 0;
    }
};

template <class ServerT>
long allocations_per_2000_round_trips(Engine& engine, ServerT& server) {
    RawClient client(*server.local_address());
    for (int i = 0; i < 200; ++i) REQUIRE(client.round_trip(engine));  // warm up: buffers reach their size
    long before = allocations.load();
    REQUIRE(before > 0);  // the counting operator new is the one in use
    bool ok = true;
    for (int i = 0; i < 2000; ++i) ok &= client.round_trip(engine);
    long used = allocations.load() - before;
    REQUIRE(ok);
    return used;
}

}  // namespace

// A Server<ConnectionClass> on loopback, counted over 2,000 round trips.
template <class ConnectionClass>
long callback_server_allocations() {
    Engine engine;
    pants::Server<ConnectionClass> server(engine);
    REQUIRE(server.listen(loopback()));
    return allocations_per_2000_round_trips(engine, server);
}

TEST_CASE("the callback echo path allocates nothing per message") { CHECK(callback_server_allocations<Echo>() == 0); }

TEST_CASE("the coroutine echo path allocates nothing per message") {
    Engine engine;
    pants::Server server(echo, engine);
    REQUIRE(server.listen(loopback()));
    CHECK(allocations_per_2000_round_trips(engine, server) == 0);
}

// Issue 10: a regex frame (with its groups) and a packed record read and
// written back with write_packed allocate nothing per message either.
namespace {

struct RegexEcho : pants::Connection {
    void on_connect() override { read_delimiter = pants::ReadDelimiter::regex("(x{32})(x{32})", pants::RegexMode::match); }
    void on_read(std::string_view) override {
        const pants::RegexMatch m = read_delimiter.match();
        write(m[1]);
        write(m[2]);
    }
};

struct PackedEcho : pants::Connection {
    void on_connect() override { read_delimiter = pants::ReadDelimiter::packed("!32s4Q"); }
    void on_read(std::string_view) override {
        const pants::PackedRecord r = read_delimiter.record();
        auto [text, a, b, c, d] = r.unpack<std::string_view, std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>();
        write_packed("!32s4Q", text, a, b, c, d);
    }
};

}  // namespace

TEST_CASE("the regex framing path allocates nothing per message") {
    CHECK(callback_server_allocations<RegexEcho>() == 0);
}

TEST_CASE("packed records and write_packed allocate nothing per message") {
    CHECK(callback_server_allocations<PackedEcho>() == 0);
}
