// Client::connect by name: resolution through a fake DNS server on loopback
// (or a hosts file), then the RFC 8305 race over real loopback sockets.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "net_helpers.hpp"
#include "skip.hpp"

using namespace std::chrono_literals;
using pants::Address;
using pants::Engine;
using test::Recorder;
using test::run_until;
namespace dns = pants::dns;

namespace {

struct Echo : pants::Connection {
    void on_read(std::string_view data) override { write(data); }
};

/// A DNS server on 127.0.0.1 that answers from a table: name -> AAAA and A
/// records, or NXDOMAIN for names it does not know. `silent` drops queries.
struct FakeDns : pants::Datagram {
    struct Entry {
        std::vector<std::array<std::uint8_t, 16>> aaaa;
        std::vector<std::array<std::uint8_t, 4>> a;
    };

    explicit FakeDns(Engine& engine) : pants::Datagram(engine) {
        REQUIRE(listen(Address::loopback_v4(0)));
        address = *local_address();
    }
    void on_read(std::string_view data, const Address& from) override {
        auto query = dns::decode(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
        REQUIRE(query);
        ++queries;
        if (silent) return;
        dns::Message r;
        r.id = query->id;
        r.qr = true;
        r.rd = query->rd;
        r.ra = true;
        r.questions = query->questions;
        const auto& q = query->questions.at(0);
        auto it = table.find(q.name);
        if (it == table.end()) {
            r.rcode = dns::DNS_NAMEERROR;
        } else if (q.type == dns::AAAA) {
            for (auto ip : it->second.aaaa)
                r.answers.push_back(dns::ResourceRecord{q.name, dns::AAAA, dns::IN, 60, dns::rdata::AAAA{ip}});
        } else if (q.type == dns::A) {
            for (auto ip : it->second.a)
                r.answers.push_back(dns::ResourceRecord{q.name, dns::A, dns::IN, 60, dns::rdata::A{ip}});
        }
        auto bytes = dns::encode(r);
        REQUIRE(bytes);
        std::string reply(bytes->begin(), bytes->end());
        auto delay = q.type == dns::A ? a_delay : q.type == dns::AAAA ? aaaa_delay : std::chrono::milliseconds(0);
        if (auto slow = name_delay.find(q.name); slow != name_delay.end()) delay = slow->second;
        if (delay.count() > 0)
            engine().defer(delay, [this, reply, from, type = q.type] { send_answer(reply, from, type); });
        else
            send_answer(reply, from, q.type);
    }
    void send_answer(const std::string& reply, const Address& to, std::uint16_t type) {
        write(reply, to);
        answered.push_back(type);
    }
    /// Answers A (AAAA) queries this much later (0: at once).
    std::chrono::milliseconds a_delay{0};
    std::chrono::milliseconds aaaa_delay{0};
    /// Answers every query for a name this much later (over the above).
    std::map<std::string, std::chrono::milliseconds> name_delay;
    /// The types answered so far, in the order the replies were sent.
    std::vector<std::uint16_t> answered;
    /// A resolver that asks only this server, with no system files.
    dns::Resolver::Options options() const {
        dns::Resolver::Options o;
        o.servers = {address};
        o.resolv_conf_path.clear();
        o.hosts_path.clear();
        o.timeout = 2000ms;
        o.attempts = 1;
        return o;
    }

    Address address;
    std::map<std::string, Entry> table;  // absolute names: "both.test."
    bool silent = false;
    int queries = 0;
};

constexpr std::array<std::uint8_t, 16> kV6Loopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr std::array<std::uint8_t, 4> kV4Loopback{127, 0, 0, 1};
constexpr std::array<std::uint8_t, 4> kV4Loopback2{127, 0, 0, 2};

/// True when this machine can listen on ::1.
bool have_ipv6_loopback() {
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    return ok;
}

Address ip(const char* text, std::uint16_t port) { return *Address::from_ip(text, port); }

/// A listener whose accept queue is full, so that the kernel drops every
/// further SYN to it: a connect there stays pending (SYN retransmits every
/// second or more) without sending anything off the machine.
struct BlackHole {
    int listener = -1;
    Address address;  // where it listens (the real port after port 0)
    std::vector<int> fillers;

    explicit BlackHole(const Address& where) {
        listener = ::socket(where.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(listener >= 0);
        int one = 1;
        ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        REQUIRE(::bind(listener, where.data(), where.size()) == 0);
        REQUIRE(::listen(listener, 0) == 0);  // room for one queued connection
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
        address = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
        for (int i = 0; i < 2; ++i) {
            int fd = ::socket(where.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            REQUIRE(fd >= 0);
            ::connect(fd, address.data(), address.size());
            fillers.push_back(fd);
        }
    }
    /// A fresh connect still pending after `wait`: the hole holds.
    bool holds(int wait_ms) const {
        int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ::connect(fd, address.data(), address.size());
        pollfd p{fd, POLLOUT, 0};
        bool pending = ::poll(&p, 1, wait_ms) == 0;
        ::close(fd);
        return pending;
    }
    ~BlackHole() {
        for (int fd : fillers) ::close(fd);
        ::close(listener);
    }
};

/// Runs the engine until no more operations are in flight than `base` (the
/// servers' accepts and receives), then two more turns (the race frees
/// itself on a later turn).
void drain(Engine& engine, std::size_t base) {
    run_until(engine, [&] { return engine.backend().in_flight() <= base; });
    engine.poll(0ms);
    engine.poll(0ms);
}

std::string temp_hosts(const std::string& text) {
    std::string path = "/tmp/pants-client-hosts-" + std::to_string(::getpid());
    std::ofstream(path) << text;
    return path;
}

}  // namespace

TEST_CASE("a name with AAAA and A connects over IPv6, and writes queued before the connect are echoed") {
    if (!have_ipv6_loopback()) PANTS_SKIP("no ::1 on this machine");
    Engine engine;
    // Two servers on one port, one per family: which one accepts shows
    // which family won. A port free on ::1 may be taken on 127.0.0.1 by
    // another program: then try another.
    std::unique_ptr<pants::Server<Echo>> v6_server, v4_server;
    for (int attempt = 0; attempt < 50 && !v4_server; ++attempt) {
        v6_server = std::make_unique<pants::Server<Echo>>(engine);
        REQUIRE(v6_server->listen(Address::loopback_v6(0)));
        auto v4_try = std::make_unique<pants::Server<Echo>>(engine);
        if (v4_try->listen(Address::loopback_v4(v6_server->local_address()->port()))) v4_server = std::move(v4_try);
    }
    REQUIRE_MESSAGE(v4_server, "no port free on both ::1 and 127.0.0.1 in 50 tries");
    pants::Server<Echo>& v6 = *v6_server;
    pants::Server<Echo>& v4 = *v4_server;
    const std::uint16_t port = v6.local_address()->port();
    FakeDns dns_server(engine);
    dns_server.table["both.test."] = {{kV6Loopback}, {kV4Loopback}};
    dns::Resolver resolver(dns_server.options(), engine);
    const auto base = engine.backend().in_flight();

    Recorder client(engine, resolver);
    client.connect("both.test", port);
    client.write("hello ");
    client.write("world");
    run_until(engine, [&] { return client.got == "hello world"; });
    CHECK(client.events == std::vector<std::string>{"connect"});
    REQUIRE(client.remote_address());
    CHECK(client.remote_address()->is_ipv6());
    CHECK(*client.remote_address() == Address::loopback_v6(port));
    CHECK(v6.connections().size() == 1);
    CHECK(v4.connections().empty());  // 250 ms never passed: IPv4 was not tried
    CHECK(dns_server.queries == 2);
    client.close();
    run_until(engine, [&] { return client.closes == 1; });
    drain(engine, base);
}

TEST_CASE("an IPv6 address that refuses falls back to IPv4 at once, without waiting for the attempt delay") {
    Engine engine;
    pants::Server<Echo> v4(engine);
    REQUIRE(v4.listen(Address::loopback_v4(0)));
    const std::uint16_t port = v4.local_address()->port();
    FakeDns dns_server(engine);
    // Nothing listens on [::1]:port: refused at once (or unreachable
    // without IPv6, which fails at once too).
    dns_server.table["fallback.test."] = {{kV6Loopback}, {kV4Loopback}};
    dns::Resolver resolver(dns_server.options(), engine);
    const auto base = engine.backend().in_flight();

    Recorder client(engine, resolver);
    client.attempt_delay = std::chrono::hours(1);  // only the failure can start the IPv4 attempt
    client.connect("fallback.test", port);
    client.write("ping");
    run_until(engine, [&] { return client.got == "ping"; });
    CHECK(client.events == std::vector<std::string>{"connect"});
    REQUIRE(client.remote_address());
    CHECK(*client.remote_address() == Address::loopback_v4(port));
    client.close();
    run_until(engine, [&] { return client.closes == 1; });
    drain(engine, base);
}

/// "slow.test" resolves to 127.0.0.2, where a full-backlog listener
/// swallows SYNs (loopback too: the attempt neither connects nor fails),
/// then to 127.0.0.1, where an echo server answers.
struct SlowFirstAddress {
    pants::Server<Echo> good;
    std::uint16_t port;
    BlackHole hole;
    FakeDns dns_server;
    dns::Resolver resolver;
    explicit SlowFirstAddress(Engine& engine)
        : good(engine), port(listen_port(good)), hole(ip("127.0.0.2", port)), dns_server(engine),
          resolver(table(dns_server).options(), engine) {}
    static std::uint16_t listen_port(pants::Server<Echo>& s) {
        REQUIRE(s.listen(Address::loopback_v4(0)));
        return s.local_address()->port();
    }
    static FakeDns& table(FakeDns& d) {
        d.table["slow.test."] = {{}, {kV4Loopback2, kV4Loopback}};
        return d;
    }
};

TEST_CASE("an attempt that gets no answer is overtaken by the next address after attempt_delay") {
    Engine engine;
    SlowFirstAddress slow(engine);
    if (!slow.hole.holds(200)) PANTS_SKIP("this kernel does not drop SYNs to a full accept queue");
    auto& good = slow.good;
    const std::uint16_t port = slow.port;
    const auto base = engine.backend().in_flight();

    Recorder client(engine, slow.resolver);
    client.attempt_delay = 100ms;
    client.connect("slow.test", port);
    client.write("after the stagger");
    run_until(engine, [&] { return client.got == "after the stagger"; });
    CHECK(client.events == std::vector<std::string>{"connect"});
    CHECK(*client.remote_address() == ip("127.0.0.1", port));
    CHECK(good.connections().size() == 1);
    client.close();
    run_until(engine, [&] { return client.closes == 1; });
    drain(engine, base);  // the pending attempt to 127.0.0.2 was cancelled and closed
}

TEST_CASE("with a long attempt delay the next address waits while the first attempt hangs") {
    Engine engine;
    SlowFirstAddress slow(engine);
    if (!slow.hole.holds(200)) PANTS_SKIP("this kernel does not drop SYNs to a full accept queue");
    auto& good = slow.good;
    const std::uint16_t port = slow.port;

    Recorder client(engine, slow.resolver);
    client.attempt_delay = std::chrono::hours(1);
    client.connect("slow.test", port);
    bool waited = false;
    auto timer = engine.defer(300ms, [&] { waited = true; });
    run_until(engine, [&] { return waited; });
    CHECK(client.events.empty());
    CHECK(good.connections().empty());
    CHECK_FALSE(client.connected());
}

TEST_CASE("a name that does not exist reaches on_connect_error with DNS_NAMEERROR") {
    Engine engine;
    FakeDns dns_server(engine);
    dns::Resolver resolver(dns_server.options(), engine);
    Recorder client(engine, resolver);
    client.connect("nowhere.test", 80);
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(client.events == std::vector<std::string>{"connect_error", "close"});
    CHECK(client.error == dns::make_error_code(dns::DNS_NAMEERROR));
    CHECK(client.error.category() == dns::category());
}

TEST_CASE("a name with no address records is reported as DNS_NAMEERROR") {
    Engine engine;
    FakeDns dns_server(engine);
    dns_server.table["empty.test."] = {};
    dns::Resolver resolver(dns_server.options(), engine);
    Recorder client(engine, resolver);
    client.connect("empty.test", 80);
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(client.events == std::vector<std::string>{"connect_error", "close"});
    CHECK(client.error == dns::make_error_code(dns::DNS_NAMEERROR));
}

TEST_CASE("when every address refuses, on_connect_error carries the last connect error") {
    Engine engine;
    // A port where nothing listens on 127.0.0.1: bind, read the port, close.
    pants::Server<Echo> probe(engine);
    REQUIRE(probe.listen(Address::loopback_v4(0)));
    const std::uint16_t port = probe.local_address()->port();
    probe.close();
    FakeDns dns_server(engine);
    dns_server.table["refused.test."] = {{}, {kV4Loopback, kV4Loopback}};
    dns::Resolver resolver(dns_server.options(), engine);
    Recorder client(engine, resolver);
    client.attempt_delay = std::chrono::hours(1);
    client.connect("refused.test", port);
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(client.events == std::vector<std::string>{"connect_error", "close"});
    CHECK(client.error == std::make_error_code(std::errc::connection_refused));
}

TEST_CASE("co_await connect by name gives the DNS status as the error") {
    Engine engine;
    FakeDns dns_server(engine);
    dns::Resolver resolver(dns_server.options(), engine);
    Recorder client(engine, resolver);
    auto result = engine.run([&]() -> pants::Task<pants::Result<void>> {
        co_return co_await client.connect("nowhere.test", 80);
    }());
    REQUIRE_FALSE(result);
    CHECK(result.error() == dns::make_error_code(dns::DNS_NAMEERROR));
    run_until(engine, [&] { return client.closes == 1; });
}

TEST_CASE("co_await connect by a hosts-file name connects, and the stream echoes") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(Address::loopback_v4(0)));
    const std::uint16_t port = server.local_address()->port();
    dns::Resolver::Options o;
    o.hosts_path = temp_hosts("127.0.0.1 hosted.test\n");
    o.resolv_conf_path.clear();
    o.servers = {Address::loopback_v4(9)};  // never asked: the hosts file answers
    o.timeout = 200ms;
    o.attempts = 1;
    dns::Resolver resolver(o, engine);
    const auto base = engine.backend().in_flight();
    pants::Client client(engine, resolver);
    auto got = engine.run([&]() -> pants::Task<std::string> {
        auto c = co_await client.connect("hosted.test", port);
        REQUIRE(c);
        co_await client.write("via hosts");
        auto r = co_await client.read_exactly(9);
        REQUIRE(r);
        co_return std::string(*r);
    }());
    CHECK(got == "via hosts");
    CHECK(*client.remote_address() == Address::loopback_v4(port));
    ::unlink(o.hosts_path.c_str());
    client.close();
    drain(engine, base);
}

TEST_CASE("close() while the name resolves ends with on_close only") {
    Engine engine;
    FakeDns dns_server(engine);
    dns_server.silent = true;
    dns::Resolver resolver(dns_server.options(), engine);
    Recorder client(engine, resolver);
    client.connect("silent.test", 80);
    run_until(engine, [&] { return dns_server.queries == 2; });
    client.close();
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(client.events == std::vector<std::string>{"close"});
}

TEST_CASE("a cancelled co_await connect by name ends with an error while an attempt hangs") {
    Engine engine;
    BlackHole hole(ip("127.0.0.2", 0));
    if (!hole.holds(200)) PANTS_SKIP("this kernel does not drop SYNs to a full accept queue");
    const std::uint16_t port = hole.address.port();
    FakeDns dns_server(engine);
    dns_server.table["hole.test."] = {{}, {kV4Loopback2}};
    dns::Resolver resolver(dns_server.options(), engine);
    const auto base = engine.backend().in_flight();
    Recorder client(engine, resolver);
    // Named, so its captures outlive the coroutine (DESIGN.md's lambda trap).
    auto connect = [&]() -> pants::Task<pants::Result<void>> { co_return co_await client.connect("hole.test", port); };
    auto result = engine.run(pants::with_timeout(engine, 200ms, connect()));
    REQUIRE_FALSE(result);
    CHECK(result.error() == std::make_error_code(std::errc::timed_out));
    run_until(engine, [&] { return client.closes == 1; });
    CHECK(client.events == std::vector<std::string>{"close"});
    drain(engine, base);
}

TEST_CASE("destroying a client while an attempt hangs cancels and drains it") {
    Engine engine;
    BlackHole hole(ip("127.0.0.2", 0));
    if (!hole.holds(200)) PANTS_SKIP("this kernel does not drop SYNs to a full accept queue");
    const std::uint16_t port = hole.address.port();
    FakeDns dns_server(engine);
    dns_server.table["hole.test."] = {{}, {kV4Loopback2}};
    auto resolver = std::make_unique<dns::Resolver>(dns_server.options(), engine);
    const auto base = engine.backend().in_flight();
    auto client = std::make_unique<Recorder>(engine, *resolver);
    client->connect("hole.test", port);
    run_until(engine, [&] { return dns_server.queries == 2; });
    engine.poll(10ms);  // the answers arrive and the attempt starts
    engine.poll(10ms);
    client.reset();
    resolver.reset();
    drain(engine, base);
}

TEST_CASE("a client on another engine resolves on that engine") {
    Engine engine;
    pants::Client client(engine);
    CHECK(&client.resolver().engine() == &engine);
    pants::Client on_default;
    CHECK(&on_default.resolver() == &dns::default_resolver());
}

TEST_CASE("IP literals and localhost connect without asking DNS") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(Address::loopback_v4(0)));
    const std::uint16_t port = server.local_address()->port();
    FakeDns dns_server(engine);
    dns::Resolver resolver(dns_server.options(), engine);
    const auto base = engine.backend().in_flight();
    Recorder a(engine, resolver), b(engine, resolver);
    a.connect("127.0.0.1", port);
    b.connect("localhost", port);
    run_until(engine, [&] { return a.connected() && b.connected(); });
    CHECK(dns_server.queries == 0);
    a.close();
    b.close();
    drain(engine, base);
}

TEST_CASE("an address that arrives after a failure starts at once, not after a hanging attempt (regression)") {
    // AAAA gives a black hole and a refusing address; A (the one that works)
    // comes 400 ms later. The refusal must let the late A start at once
    // rather than wait for the black-holed SYN to time out (minutes).
    Engine engine;
    pants::Server<Echo> good(engine);
    REQUIRE(good.listen(Address::loopback_v4(0)));
    const std::uint16_t port = good.local_address()->port();
    BlackHole hole(ip("::1", port));
    if (!hole.holds(200)) PANTS_SKIP("no IPv6 black hole here (no ::1, or SYNs to a full queue are not dropped)");
    std::array<std::uint8_t, 16> refused{};  // ::ffff:127.0.0.3, nothing listens there
    refused[10] = refused[11] = 0xff;
    refused[12] = 127;
    refused[15] = 3;
    FakeDns dns_server(engine);
    dns_server.table["late.test."] = {{kV6Loopback, refused}, {kV4Loopback}};
    dns_server.a_delay = 400ms;
    dns::Resolver resolver(dns_server.options(), engine);
    Recorder client(engine, resolver);
    client.attempt_delay = 100ms;
    client.connect("late.test", port);
    client.write("made it");
    REQUIRE(engine.run_until([&] { return client.got == "made it"; }, std::chrono::seconds(5)));
    CHECK(*client.remote_address() == Address::loopback_v4(port));
    client.close();
    run_until(engine, [&] { return client.closes == 1; });
}

// --- coverage of issue 13: resolver choice, RFC 8305 timing, errors, on_close ---

namespace {
/// An IPv4-mapped IPv6 address (::ffff:a.b.c.d): an AAAA record that a
/// machine without ::1 can still connect to, through its IPv4 loopback.
std::array<std::uint8_t, 16> mapped(std::array<std::uint8_t, 4> v4) {
    std::array<std::uint8_t, 16> a{};
    a[10] = a[11] = 0xff;
    std::copy(v4.begin(), v4.end(), a.begin() + 12);
    return a;
}
constexpr std::array<std::uint8_t, 4> kV4Refused{127, 0, 0, 3};  // nothing listens there
/// Where a TCP connect fails at once with ENETUNREACH: the kernel refuses
/// to connect a stream to a broadcast address, without sending anything.
constexpr std::array<std::uint8_t, 4> kBroadcast{255, 255, 255, 255};

/// A port where nothing listens on 127.0.0.1 (bound, read, closed).
std::uint16_t refused_port(Engine& engine) {
    pants::Server<Echo> probe(engine);
    REQUIRE(probe.listen(Address::loopback_v4(0)));
    const std::uint16_t port = probe.local_address()->port();
    probe.close();
    return port;
}
}  // namespace

TEST_CASE("set_resolver makes the next connect by name ask that resolver, and refuses one on another engine") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(Address::loopback_v4(0)));
    const std::uint16_t port = server.local_address()->port();
    FakeDns first(engine), second(engine);
    first.table["chosen.test."] = {{}, {kV4Refused}};
    second.table["chosen.test."] = {{}, {kV4Loopback}};
    dns::Resolver first_resolver(first.options(), engine), second_resolver(second.options(), engine);
    const auto base = engine.backend().in_flight();
    Recorder client(engine, first_resolver);
    client.set_resolver(second_resolver);
    CHECK(&client.resolver() == &second_resolver);
    client.connect("chosen.test", port);
    client.write("via second");
    run_until(engine, [&] { return client.got == "via second"; });
    CHECK(first.queries == 0);
    CHECK(second.queries == 2);
    Engine other;
    dns::Resolver elsewhere(first.options(), other);
    CHECK_THROWS_AS(client.set_resolver(elsewhere), std::invalid_argument);
    CHECK(&client.resolver() == &second_resolver);
    client.close();
    run_until(engine, [&] { return client.closes == 1; });
    drain(engine, base);
}

TEST_CASE("when A answers first, an AAAA answer within the 50 ms resolution delay is still tried first (RFC 8305 3)") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(Address::loopback_v4(0)));
    const std::uint16_t port = server.local_address()->port();
    FakeDns dns_server(engine);
    // Both families reach the same IPv4 server; the address the client
    // ends up with shows which family went first.
    dns_server.table["delay.test."] = {{mapped(kV4Loopback)}, {kV4Loopback}};
    dns_server.aaaa_delay = 10ms;
    dns::Resolver resolver(dns_server.options(), engine);
    const auto base = engine.backend().in_flight();
    Recorder client(engine, resolver);
    client.connect("delay.test", port);
    client.write("six");
    run_until(engine, [&] { return client.got == "six"; });
    CHECK(dns_server.answered == std::vector<std::uint16_t>{dns::A, dns::AAAA});
    REQUIRE(client.remote_address());
    CHECK(client.remote_address()->is_ipv6());
    client.close();
    run_until(engine, [&] { return client.closes == 1; });
    drain(engine, base);
}

TEST_CASE("when A answers first and AAAA is late, IPv4 starts after the resolution delay without waiting for AAAA") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(Address::loopback_v4(0)));
    const std::uint16_t port = server.local_address()->port();
    FakeDns dns_server(engine);
    dns_server.table["late6.test."] = {{}, {kV4Loopback}};
    dns_server.aaaa_delay = 1500ms;
    dns::Resolver resolver(dns_server.options(), engine);
    const auto base = engine.backend().in_flight();
    Recorder client(engine, resolver);
    client.connect("late6.test", port);
    client.write("four");
    run_until(engine, [&] { return client.got == "four"; });
    CHECK(dns_server.answered == std::vector<std::uint16_t>{dns::A});  // connected before AAAA came
    CHECK(*client.remote_address() == Address::loopback_v4(port));
    client.close();
    run_until(engine, [&] { return client.closes == 1; });
    run_until(engine, [&] { return dns_server.answered.size() == 2; });  // the late answer reaches nobody
    drain(engine, base);
    CHECK(client.closes == 1);
}

TEST_CASE("attempts interleave the families: after a failed IPv6 address comes IPv4, not the next IPv6 (RFC 8305 4)") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(Address::loopback_v4(0)));
    const std::uint16_t port = server.local_address()->port();
    FakeDns dns_server(engine);
    // AAAA: one that refuses, then one that works; A: one that works. In
    // RFC 8305 order the second attempt is the IPv4 one.
    dns_server.table["mix.test."] = {{mapped(kV4Refused), mapped(kV4Loopback)}, {kV4Loopback}};
    // Both answers are in before the first attempt: A first, AAAA within
    // the resolution delay (an A answer that came after the refusal would
    // rightly leave only IPv6 to try).
    dns_server.aaaa_delay = 10ms;
    dns::Resolver resolver(dns_server.options(), engine);
    const auto base = engine.backend().in_flight();
    Recorder client(engine, resolver);
    client.attempt_delay = std::chrono::hours(1);  // only failures move on
    client.connect("mix.test", port);
    client.write("mixed");
    run_until(engine, [&] { return client.got == "mixed"; });
    REQUIRE(client.remote_address());
    CHECK(*client.remote_address() == Address::loopback_v4(port));
    client.close();
    run_until(engine, [&] { return client.closes == 1; });
    drain(engine, base);
}

TEST_CASE("when attempts fail with different errors, on_connect_error carries the last one, not the first") {
    Engine engine;
    const std::uint16_t port = refused_port(engine);
    FakeDns dns_server(engine);
    dns_server.table["refused-then-unreachable.test."] = {{}, {kV4Loopback, kBroadcast}};
    dns_server.table["unreachable-then-refused.test."] = {{}, {kBroadcast, kV4Loopback}};
    dns::Resolver resolver(dns_server.options(), engine);
    Recorder one(engine, resolver), two(engine, resolver);
    one.attempt_delay = two.attempt_delay = std::chrono::hours(1);
    one.connect("refused-then-unreachable.test", port);
    two.connect("unreachable-then-refused.test", port);
    run_until(engine, [&] { return one.closes == 1 && two.closes == 1; });
    CHECK(one.events == std::vector<std::string>{"connect_error", "close"});
    CHECK(one.error == std::make_error_code(std::errc::network_unreachable));
    CHECK(two.events == std::vector<std::string>{"connect_error", "close"});
    CHECK(two.error == std::make_error_code(std::errc::connection_refused));
}

namespace {
/// A Recorder that also calls close() from on_connect_error and on_close,
/// as careless user code does.
struct ClosingRecorder : Recorder {
    using Recorder::Recorder;
    void on_connect_error(std::error_code e) override {
        Recorder::on_connect_error(e);
        close();
    }
    void on_close() override {
        Recorder::on_close();
        close();
    }
};
}  // namespace

TEST_CASE("on_close fires once on a client, however often it is closed and whatever arrives afterwards") {
    Engine engine;
    pants::Server<Echo> server(engine);
    REQUIRE(server.listen(Address::loopback_v4(0)));
    const std::uint16_t port = server.local_address()->port();
    FakeDns dns_server(engine);
    dns_server.table["fails.test."] = {{}, {kBroadcast}};
    dns_server.table["works.test."] = {{mapped(kV4Loopback)}, {kV4Loopback}};
    dns_server.table["slow.test."] = {{}, {kV4Loopback}};
    dns_server.a_delay = 300ms;
    // Well after fails.test's answers: two replies due in one turn may
    // leave in one turn (several sends in flight), and slow.test's must
    // still come after the close.
    dns_server.name_delay["slow.test."] = 900ms;
    dns::Resolver resolver(dns_server.options(), engine);
    const auto base = engine.backend().in_flight();
    // A failed connect, closed again from its own callbacks.
    ClosingRecorder failed(engine, resolver);
    // A connected stream with reads in flight, closed twice.
    ClosingRecorder connected(engine, resolver);
    // A connect closed while the answers are still due; they come later.
    ClosingRecorder resolving(engine, resolver);
    failed.connect("fails.test", port);
    connected.connect("works.test", port);
    resolving.connect("slow.test", port);
    connected.write("x");
    run_until(engine, [&] { return connected.got == "x" && failed.closes >= 1; });
    connected.close();
    connected.close();
    resolving.close();
    run_until(engine, [&] { return connected.closes >= 1 && resolving.closes >= 1; });
    run_until(engine, [&] { return dns_server.answered.size() == 6; });  // the slow answers arrive
    drain(engine, base);
    for (auto* c : {&failed, &connected, &resolving}) c->close();
    drain(engine, base);
    CHECK(failed.events == std::vector<std::string>{"connect_error", "close"});
    CHECK(connected.events == std::vector<std::string>{"connect", "close"});
    CHECK(resolving.events == std::vector<std::string>{"close"});
}
