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

// A UDP echo answering bursts of 16 datagrams (more than fit one spare
// list of old, and each burst one GSO batch) allocates nothing either.
namespace {

struct DatagramEcho : pants::Datagram {
    using pants::Datagram::Datagram;
    void on_read(std::string_view data, const pants::Address&) override { write(data); }
};

// Sends 16 datagrams from a raw socket and waits for their 16 echoes.
bool datagram_burst(Engine& engine, int fd, const pants::Address& to) {
    char out[64], in[128];
    std::memset(out, 'u', sizeof out);
    for (int i = 0; i < 16; ++i)
        if (::sendto(fd, out, sizeof out, 0, to.data(), to.size()) != ssize_t(sizeof out)) return false;
    int got = 0;
    for (int turns = 0; got < 16 && turns < 100000; ++turns) {
        engine.poll(std::chrono::milliseconds(10));
        while (got < 16 && ::recv(fd, in, sizeof in, MSG_DONTWAIT) == ssize_t(sizeof out)) ++got;
    }
    return got == 16;
}

}  // namespace

TEST_CASE("the datagram echo path allocates nothing per datagram") {
    Engine engine;
    DatagramEcho server(engine);
    REQUIRE(server.listen(pants::Address::loopback_v4(0)));
    const pants::Address at = *server.local_address();
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    for (int i = 0; i < 100; ++i) REQUIRE(datagram_burst(engine, fd, at));  // warm up
    const long before = allocations.load();
    bool ok = true;
    for (int i = 0; i < 500; ++i) ok &= datagram_burst(engine, fd, at);
    const long used = allocations.load() - before;
    ::close(fd);
    REQUIRE(ok);
    CHECK(used == 0);
}

// Issue 14: the DNS resolver drains its reports and answers with an
// engine callback made once and queued again on each turn that has some.
TEST_CASE("queueing a reusable callback again allocates nothing") {
    Engine engine;
    int runs = 0;
    auto t = Engine::reusable_callback([&] { ++runs; });
    for (int i = 0; i < 2; ++i) {  // warm up (the engine's two turn lists)
        engine.schedule_turn(t);
        engine.poll(std::chrono::milliseconds(0));
    }
    const long before = allocations.load();
    for (int i = 0; i < 1000; ++i) {
        engine.schedule_turn(t);
        engine.poll(std::chrono::milliseconds(0));
    }
    const long used = allocations.load() - before;
    CHECK(runs == 1002);
    CHECK(used == 0);
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

#include "pants_config.h"
#if PANTS_HAVE_TLS
// The same over TLS (issue 11), our client against our server on one
// engine: neither side allocates per message. OpenSSL's allocations are
// counted too (through CRYPTO_set_mem_functions, which must run before
// OpenSSL allocates anything: at static initialisation): OpenSSL 3.0's
// record layer makes and frees small WPACKET sub-packets (40 bytes) for
// each record it writes, which no caller can avoid; that stays bounded
// per record, so a regression that adds more shows.
#include "tls_fixtures.hpp"

#include <openssl/crypto.h>

namespace {

std::atomic<long> openssl_allocations{0};
void* counting_malloc(std::size_t n, const char*, int) {
    ++openssl_allocations;
    return std::malloc(n);
}
void* counting_realloc(void* p, std::size_t n, const char*, int) {
    ++openssl_allocations;
    return std::realloc(p, n);
}
void counting_free(void* p, const char*, int) { std::free(p); }
const bool openssl_counted = CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) == 1;

struct CountingClient : pants::Client {
    using pants::Client::Client;
    std::size_t got = 0;
    void on_read(std::string_view d) override { got += d.size(); }
};

template <class ServerT>
void check_tls_round_trips(Engine& engine, ServerT& server, const pants::tls::Context& ctx) {
    REQUIRE(openssl_counted);
    CountingClient client(engine);
    client.connect("localhost", server.local_address()->port(), ctx);
    const std::string message(64, 'x');
    std::size_t expected = 0;
    auto round_trip = [&] {
        client.write(message);
        expected += message.size();
        return engine.run_until([&] { return client.got == expected; }, std::chrono::seconds(20));
    };
    for (int i = 0; i < 200; ++i) REQUIRE(round_trip());  // warm up, and past the session tickets
    const long before = allocations.load();
    const long openssl_before = openssl_allocations.load();
    REQUIRE(openssl_before > 0);  // the counting functions are the ones in use
    bool ok = true;
    for (int i = 0; i < 2000; ++i) ok &= round_trip();
    REQUIRE(ok);
    CHECK(allocations.load() - before == 0);
    // Four records per round trip (each side encrypts one, decrypts one).
    const long per_record = (openssl_allocations.load() - openssl_before) / (4 * 2000);
    MESSAGE("OpenSSL allocations per record: " << per_record);
    CHECK(per_record <= 2);
}

}  // namespace

TEST_CASE("the TLS callback echo path allocates nothing per message (OpenSSL: bounded)") {
    Engine engine;
    test::Pki pki;
    pants::Server<Echo> server(engine);
    server.set_tls(pki.server_context());
    REQUIRE(server.listen(loopback()));
    check_tls_round_trips(engine, server, pki.client_context());
}

TEST_CASE("the TLS coroutine echo path allocates nothing per message (OpenSSL: bounded)") {
    Engine engine;
    test::Pki pki;
    pants::Server server(echo, engine);
    server.set_tls(pki.server_context());
    REQUIRE(server.listen(loopback()));
    check_tls_round_trips(engine, server, pki.client_context());
}
#endif
