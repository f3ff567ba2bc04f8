// Resolver: queries against an in-process fake DNS server on loopback
// (UDP on a Datagram, TCP on a Server), one fault per test.
#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include "dns_fake_server.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using pants::Address;
namespace dns = pants::dns;

using namespace pants_test_dns;

TEST_CASE("an A query follows a CNAME chain and reports the canonical name and smallest TTL") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.answers.push_back(record("www.example.com.", dns::CNAME, 300, dns::rdata::CNAME{"edge.example.net."}));
        r.answers.push_back(record("edge.example.net.", dns::CNAME, 120, dns::rdata::CNAME{"host.example.org."}));
        r.answers.push_back(record("host.example.org.", dns::A, 200, dns::rdata::A{{192, 0, 2, 1}}));
        r.answers.push_back(record("host.example.org.", dns::A, 250, dns::rdata::A{{192, 0, 2, 2}}));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    Got got;
    resolver.query("www.example.com", dns::A, got.callback());
    CHECK(got.calls == 0);  // never inline
    run_until(engine, [&] { return got.calls == 1; });
    CHECK(got.answer.status == dns::DNS_OK);
    CHECK(got.answer.cname == "host.example.org.");
    CHECK(got.answer.ttl == 120);
    REQUIRE(got.answer.rdata.size() == 2);
    CHECK(a_of(got.answer.rdata[0]).address == std::array<std::uint8_t, 4>{192, 0, 2, 1});
    CHECK(a_of(got.answer.rdata[1]).address == std::array<std::uint8_t, 4>{192, 0, 2, 2});
    REQUIRE(server.queries.size() == 1);
    CHECK(server.queries[0].questions[0] == dns::Question{"www.example.com.", dns::A, dns::IN});
    CHECK(server.queries[0].rd);
}

TEST_CASE("the CNAME chain starts with the asked name in canonical form, however it was spelt") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.answers.push_back(record("www.example.com.", dns::CNAME, 300, dns::rdata::CNAME{"host.example.org."}));
        r.answers.push_back(record("host.example.org.", dns::A, 200, dns::rdata::A{{192, 0, 2, 1}}));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    // \119 is "w": the chain gives the name as the wire form prints
    // (dig's escapes only where needed, a trailing dot), case as asked.
    // resolve() gives the whole Answer, cname_chain included.
    auto escaped = engine.run(resolver.resolve("\\119ww.example.com.", dns::A, {.use_cache = false}));
    REQUIRE(escaped.status == dns::DNS_OK);
    CHECK(escaped.cname == "host.example.org.");
    CHECK(escaped.cname_chain == std::vector<std::string>{"www.example.com."});
    auto upper = engine.run(resolver.resolve("WWW.example.com.", dns::A, {.use_cache = false}));
    REQUIRE(upper.status == dns::DNS_OK);
    CHECK(upper.cname_chain == std::vector<std::string>{"WWW.example.com."});
}

TEST_CASE("an AAAA query through a CNAME gives the IPv6 records") {
    pants::Engine engine;
    FakeServer server(engine);
    const std::array<std::uint8_t, 16> ip{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42};
    server.handler = [&](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.answers.push_back(record("v6.example.com.", dns::CNAME, 60, dns::rdata::CNAME{"real.example.com."}));
        r.answers.push_back(record("real.example.com.", dns::AAAA, 90, dns::rdata::AAAA{ip}));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto answer = dns::sync::query(resolver, "v6.example.com.", dns::AAAA);
    CHECK(answer.status == dns::DNS_OK);
    CHECK(answer.cname == "real.example.com.");
    CHECK(answer.ttl == 60);
    REQUIRE(answer.rdata.size() == 1);
    CHECK(std::get<dns::rdata::AAAA>(answer.rdata[0]).address == ip);
}

TEST_CASE("a second identical query is answered from the cache without a request") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 1}, 300);
    dns::Resolver resolver(options({server.address}), engine);
    auto first = dns::sync::query(resolver, "cached.example.", dns::A);
    CHECK(first.status == dns::DNS_OK);
    Got got;
    resolver.query("CACHED.example.", dns::A, got.callback());  // names are case-insensitive
    CHECK(got.calls == 0);  // a cache hit too is delivered on a later turn
    run_until(engine, [&] { return got.calls == 1; });
    CHECK(got.answer.status == dns::DNS_OK);
    CHECK(got.answer.ttl <= 300);
    CHECK(got.answer.ttl >= 299);
    REQUIRE(got.answer.rdata.size() == 1);
    CHECK(a_of(got.answer.rdata[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 1});
    CHECK(server.queries.size() == 1);
}

TEST_CASE("cache hits are answered in the order asked, a hit asked from an answer a turn later, and after the resolver is gone") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 3}, 300);
    auto resolver = std::make_unique<dns::Resolver>(options({server.address}), engine);
    REQUIRE(dns::sync::query(*resolver, "hit.example.", dns::A).status == dns::DNS_OK);
    std::vector<int> order;
    int asked_from_answer = 0;
    auto check_hit = [](dns::Status status, const std::vector<dns::Rdata>& rdata) {
        CHECK(status == dns::DNS_OK);
        REQUIRE(rdata.size() == 1);
        CHECK(a_of(rdata[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 3});
    };
    for (int i = 0; i < 3; ++i) {
        resolver->query("hit.example.", dns::A,
                        [&, i](dns::Status status, std::string, std::uint32_t, std::vector<dns::Rdata> rdata) {
                            check_hit(status, rdata);
                            order.push_back(i);
                            if (i != 0) return;
                            resolver->query("hit.example.", dns::A,
                                            [&](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata> r) {
                                                check_hit(s, r);
                                                ++asked_from_answer;
                                            });
                        });
    }
    CHECK(order.empty());  // never inside query()
    engine.poll(0ms);
    CHECK(order == std::vector<int>{0, 1, 2});
    CHECK(asked_from_answer == 0);  // asked during this turn's answers: the next turn
    engine.poll(0ms);
    CHECK(asked_from_answer == 1);
    // A hit asked just before the resolver goes is still answered.
    int after = 0;
    resolver->query("hit.example.", dns::A, [&](dns::Status s, std::string, std::uint32_t, std::vector<dns::Rdata> r) {
        check_hit(s, r);
        ++after;
    });
    resolver.reset();
    engine.poll(0ms);
    CHECK(after == 1);
    CHECK(server.queries.size() == 1);
}

TEST_CASE("a name spelt another way (case, trailing dot, escapes) is answered from the same cache entry") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 2}, 300);
    dns::Resolver resolver(options({server.address}), engine);
    CHECK(dns::sync::query(resolver, "a.b.", dns::A).status == dns::DNS_OK);
    // The cache is keyed by the name in wire form: \097 is "a".
    for (const char* name : {"A.b.", "\\097.b.", "\\065.B."}) {
        auto again = dns::sync::query(resolver, name, dns::A);
        CHECK(again.status == dns::DNS_OK);
        REQUIRE(again.rdata.size() == 1);
        CHECK(a_of(again.rdata[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 2});
    }
    CHECK(server.queries.size() == 1);
}

TEST_CASE("a cached answer expires after its TTL") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 2}, 1);
    dns::Resolver resolver(options({server.address}), engine);
    CHECK(dns::sync::query(resolver, "short.example.", dns::A).status == dns::DNS_OK);
    CHECK(dns::sync::query(resolver, "short.example.", dns::A).status == dns::DNS_OK);
    CHECK(server.queries.size() == 1);
    run_for(engine, 1100ms);
    CHECK(dns::sync::query(resolver, "short.example.", dns::A).status == dns::DNS_OK);
    CHECK(server.queries.size() == 2);
}

TEST_CASE("NXDOMAIN is cached for the SOA minimum, not the SOA TTL") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q, dns::DNS_NAMEERROR);
        r.authority.push_back(soa("example.", 3600, 1));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto first = dns::sync::query(resolver, "missing.example.", dns::A);
    CHECK(first.status == dns::DNS_NAMEERROR);
    CHECK(first.ttl == 1);
    CHECK(first.rdata.empty());
    CHECK(dns::sync::query(resolver, "missing.example.", dns::A).status == dns::DNS_NAMEERROR);
    CHECK(server.queries.size() == 1);
    run_for(engine, 1100ms);
    CHECK(dns::sync::query(resolver, "missing.example.", dns::A).status == dns::DNS_NAMEERROR);
    CHECK(server.queries.size() == 2);
}

TEST_CASE("NODATA is cached by the SOA's TTL when it is below the minimum") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.authority.push_back(soa("example.", 1, 3600));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto first = dns::sync::query(resolver, "nodata.example.", dns::MX);
    CHECK(first.status == dns::DNS_OK);
    CHECK(first.rdata.empty());
    CHECK(first.ttl == 1);
    CHECK(dns::sync::query(resolver, "nodata.example.", dns::MX).rdata.empty());
    CHECK(server.queries.size() == 1);
    run_for(engine, 1100ms);
    dns::sync::query(resolver, "nodata.example.", dns::MX);
    CHECK(server.queries.size() == 2);
}

TEST_CASE("a silent server times out and the next server answers") {
    pants::Engine engine;
    FakeServer silent(engine), good(engine);
    good.handler = answer_a({10, 0, 0, 3});
    dns::Resolver resolver(options({silent.address, good.address}, 200ms, 2), engine);
    auto start = pants::Engine::now();
    auto answer = dns::sync::query(resolver, "next.example.", dns::A);
    CHECK(answer.status == dns::DNS_OK);
    CHECK(pants::Engine::now() - start >= 200ms);
    CHECK(silent.queries.size() == 1);
    CHECK(good.queries.size() == 1);
    // Each try comes from a fresh socket with a fresh id.
    CHECK(silent.queries[0].questions == good.queries[0].questions);
}

TEST_CASE("servers that never answer give DNS_TIMEOUT after every attempt") {
    pants::Engine engine;
    FakeServer a(engine), b(engine);
    dns::Resolver resolver(options({a.address, b.address}, 100ms, 2), engine);
    Got got;
    resolver.query("void.example.", dns::A, got.callback());
    run_until(engine, [&] { return got.calls == 1; });
    CHECK(got.answer.status == dns::DNS_TIMEOUT);
    CHECK(a.queries.size() == 2);
    CHECK(b.queries.size() == 2);
    // Random ids: four tries, almost surely not all the same id.
    CHECK(!(a.queries[0].id == a.queries[1].id && b.queries[0].id == b.queries[1].id && a.queries[0].id == b.queries[0].id));
}

TEST_CASE("SERVFAIL from every server gives DNS_SERVERFAILURE, each server asked once") {
    pants::Engine engine;
    FakeServer a(engine), b(engine);
    auto servfail = [](FakeServer& s, const dns::Message& q, const Address& from) {
        s.reply(reply_to(q, dns::DNS_SERVERFAILURE), from);
    };
    a.handler = servfail;
    b.handler = servfail;
    dns::Resolver resolver(options({a.address, b.address}, 2000ms, 3), engine);
    auto answer = dns::sync::query(resolver, "broken.example.", dns::A);
    CHECK(answer.status == dns::DNS_SERVERFAILURE);
    CHECK(a.queries.size() == 1);
    CHECK(b.queries.size() == 1);
    // A SERVFAIL every server gave is cached briefly (RFC 2308 7.1; the
    // expiry is in test_dns_api.cpp): the same query asks nobody.
    CHECK(dns::sync::query(resolver, "broken.example.", dns::A).status == dns::DNS_SERVERFAILURE);
    CHECK(a.queries.size() == 1);
}

TEST_CASE("SERVFAIL from the first server moves on to the next") {
    pants::Engine engine;
    FakeServer a(engine), b(engine);
    a.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        s.reply(reply_to(q, dns::DNS_SERVERFAILURE), from);
    };
    b.handler = answer_a({10, 0, 0, 4});
    dns::Resolver resolver(options({a.address, b.address}), engine);
    auto answer = dns::sync::query(resolver, "second.example.", dns::A);
    CHECK(answer.status == dns::DNS_OK);
    CHECK(answer.rdata.size() == 1);
}

TEST_CASE("NXDOMAIN gives DNS_NAMEERROR at once, without asking the next server") {
    pants::Engine engine;
    FakeServer a(engine), b(engine);
    a.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        s.reply(reply_to(q, dns::DNS_NAMEERROR), from);
    };
    dns::Resolver resolver(options({a.address, b.address}), engine);
    auto answer = dns::sync::query(resolver, "nope.example.", dns::A);
    CHECK(answer.status == dns::DNS_NAMEERROR);
    CHECK(answer.ttl == 0);  // no SOA: not cached
    CHECK(b.queries.empty());
    dns::sync::query(resolver, "nope.example.", dns::A);
    CHECK(a.queries.size() == 2);
}

TEST_CASE("REFUSED and NOTIMP map to their statuses") {
    pants::Engine engine;
    FakeServer server(engine);
    std::uint16_t rcode = dns::DNS_REFUSED;
    server.handler = [&](FakeServer& s, const dns::Message& q, const Address& from) { s.reply(reply_to(q, rcode), from); };
    dns::Resolver resolver(options({server.address}), engine);
    CHECK(dns::sync::query(resolver, "r.example.", dns::A).status == dns::DNS_REFUSED);
    rcode = dns::DNS_NOTIMPLEMENTED;
    CHECK(dns::sync::query(resolver, "n.example.", dns::A).status == dns::DNS_NOTIMPLEMENTED);
    rcode = dns::DNS_FORMATERROR;
    CHECK(dns::sync::query(resolver, "f.example.", dns::A).status == dns::DNS_FORMATERROR);
}

TEST_CASE("a truncated UDP reply is retried over TCP with a length prefix") {
    pants::Engine engine;
    // The TCP server and the UDP server share one loopback port.
    std::vector<dns::Message> tcp_queries;
    pants::Server tcp(
        [&](pants::Stream& stream) -> pants::Task<> {
            auto head = co_await stream.read_exactly(2);
            if (!head) co_return;
            std::size_t n = std::size_t(std::uint8_t((*head)[0])) << 8 | std::uint8_t((*head)[1]);
            auto body = co_await stream.read_exactly(n);
            if (!body) co_return;
            auto q = dns::decode(std::span(reinterpret_cast<const std::uint8_t*>(body->data()), body->size()));
            if (!q) co_return;
            tcp_queries.push_back(*q);
            auto r = reply_to(*q);
            for (std::uint8_t i = 1; i <= 100; ++i)
                r.answers.push_back(record("big.example.", dns::A, 300, dns::rdata::A{{10, 1, 0, i}}));
            std::string bytes = bytes_of(r);
            std::string framed{char(bytes.size() >> 8), char(bytes.size() & 0xFF)};
            co_await stream.write(framed + bytes);
        },
        engine);
    std::unique_ptr<FakeServer> udp;
    for (int i = 0; i < 20 && !udp; ++i) {
        REQUIRE(tcp.listen(Address::loopback_v4(0)));
        auto at = *tcp.local_address();
        pants::Datagram probe(engine);
        if (probe.listen(at)) {
            probe.close();
            run_until(engine, [&] { return probe.closed(); });
            udp = std::make_unique<FakeServer>(engine, at);
        } else {
            tcp.close();
        }
    }
    REQUIRE(udp);
    udp->handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.tc = true;
        r.answers.push_back(record("big.example.", dns::A, 300, dns::rdata::A{{10, 1, 0, 1}}));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({udp->address}), engine);
    auto answer = dns::sync::query(resolver, "big.example.", dns::A);
    CHECK(answer.status == dns::DNS_OK);
    CHECK(answer.rdata.size() == 100);
    CHECK(udp->queries.size() == 1);
    REQUIRE(tcp_queries.size() == 1);
    CHECK(tcp_queries[0].questions == udp->queries[0].questions);
}

TEST_CASE("replies with the wrong id or the wrong question are dropped and the right one wins") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto wrong_id = reply_to(q);
        wrong_id.id = std::uint16_t(q.id + 1);
        wrong_id.answers.push_back(record("right.example.", dns::A, 300, dns::rdata::A{{6, 6, 6, 1}}));
        s.reply(wrong_id, from);
        auto wrong_name = reply_to(q);
        wrong_name.questions[0].name = "wrong.example.";
        wrong_name.answers.push_back(record("wrong.example.", dns::A, 300, dns::rdata::A{{6, 6, 6, 2}}));
        s.reply(wrong_name, from);
        auto wrong_type = reply_to(q);
        wrong_type.questions[0].type = dns::AAAA;
        s.reply(wrong_type, from);
        auto not_a_reply = reply_to(q);
        not_a_reply.qr = false;
        not_a_reply.answers.push_back(record("right.example.", dns::A, 300, dns::rdata::A{{6, 6, 6, 3}}));
        s.reply(not_a_reply, from);
        auto right = reply_to(q);
        right.questions[0].name = "RIGHT.Example.";  // case differs: still the same question
        right.answers.push_back(record("right.example.", dns::A, 300, dns::rdata::A{{10, 0, 0, 5}}));
        s.reply(right, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto answer = dns::sync::query(resolver, "right.example.", dns::A);
    CHECK(answer.status == dns::DNS_OK);
    REQUIRE(answer.rdata.size() == 1);
    CHECK(a_of(answer.rdata[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 5});
}

TEST_CASE("a reply from another source address is dropped") {
    pants::Engine engine;
    FakeServer server(engine), impostor(engine);
    server.handler = [&](FakeServer& s, const dns::Message& q, const Address& from) {
        auto fake = reply_to(q);
        fake.answers.push_back(record("src.example.", dns::A, 300, dns::rdata::A{{6, 6, 6, 6}}));
        impostor.reply(fake, from);
        // The real reply comes a little later, after the forged one arrived.
        auto real = reply_to(q);
        real.answers.push_back(record("src.example.", dns::A, 300, dns::rdata::A{{10, 0, 0, 6}}));
        s.engine().defer(50ms, [&s, real, from] { s.reply(real, from); });
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto answer = dns::sync::query(resolver, "src.example.", dns::A);
    REQUIRE(answer.rdata.size() == 1);
    CHECK(a_of(answer.rdata[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 6});
}

TEST_CASE("garbage bytes are dropped and a later valid reply wins") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        s.write(std::string("\x12\x34garbage", 9), from);
        s.write(std::string(), from);
        auto r = reply_to(q);
        r.answers.push_back(record("junk.example.", dns::A, 300, dns::rdata::A{{10, 0, 0, 7}}));
        s.engine().defer(50ms, [&s, r, from] { s.reply(r, from); });
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto answer = dns::sync::query(resolver, "junk.example.", dns::A);
    CHECK(answer.status == dns::DNS_OK);
    REQUIRE(answer.rdata.size() == 1);
    CHECK(a_of(answer.rdata[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 7});
}

TEST_CASE("only garbage until the timeout gives DNS_FORMATERROR") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        std::string truncated = bytes_of(reply_to(q)).substr(0, 7);
        s.write(truncated, from);
    };
    dns::Resolver resolver(options({server.address}, 150ms, 2), engine);
    auto start = pants::Engine::now();
    auto answer = dns::sync::query(resolver, "junk.example.", dns::A);
    CHECK(answer.status == dns::DNS_FORMATERROR);
    CHECK(pants::Engine::now() - start >= 300ms);  // garbage did not end either try early
    CHECK(server.queries.size() == 2);
}

TEST_CASE("two identical concurrent queries share one request") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 8});
    dns::Resolver resolver(options({server.address}), engine);
    Got one, two, other;
    resolver.query("shared.example", dns::A, one.callback());
    resolver.query("Shared.Example.", dns::A, two.callback());
    resolver.query("shared.example", dns::AAAA, other.callback());
    run_until(engine, [&] { return one.calls == 1 && two.calls == 1 && other.calls == 1; });
    CHECK(one.answer.status == dns::DNS_OK);
    CHECK(two.answer.status == dns::DNS_OK);
    CHECK(one.answer.rdata == two.answer.rdata);
    CHECK(server.queries.size() == 2);  // one A, one AAAA
}

TEST_CASE("the hosts file answers A, AAAA and PTR before any server") {
    pants::Engine engine;
    FakeServer server(engine);
    auto hosts = temp_file("hosts", "# test hosts\n192.0.2.7 myhost.test myalias\n2001:db8::7 myhost.test\n");
    auto o = options({server.address});
    o.hosts_path = hosts;
    dns::Resolver resolver(o, engine);
    auto a = dns::sync::query(resolver, "myalias", dns::A);
    CHECK(a.status == dns::DNS_OK);
    CHECK(a.ttl == 0);
    REQUIRE(a.rdata.size() == 1);
    CHECK(a_of(a.rdata[0]).address == std::array<std::uint8_t, 4>{192, 0, 2, 7});
    auto aaaa = dns::sync::query(resolver, "MyHost.test", dns::AAAA);
    REQUIRE(aaaa.rdata.size() == 1);
    CHECK(std::get<dns::rdata::AAAA>(aaaa.rdata[0]).address[15] == 7);
    auto ptr = dns::sync::query(resolver, "7.2.0.192.in-addr.arpa.", dns::PTR);
    REQUIRE(ptr.rdata.size() == 1);
    CHECK(std::get<dns::rdata::PTR>(ptr.rdata[0]).name == "myhost.test.");
    auto host = dns::sync::gethostbyaddr(resolver, "192.0.2.7");
    REQUIRE(host);
    CHECK(host->name == "myhost.test");
    CHECK(server.queries.empty());
    // Other types still go to the server.
    dns::sync::query(resolver, "myhost.test", dns::MX);
    CHECK(server.queries.size() == 1);
    ::unlink(hosts.c_str());
}

TEST_CASE("the hosts file is re-read when it changes") {
    pants::Engine engine;
    auto hosts = temp_file("hosts-reload", "192.0.2.7 changing.test\n");
    auto o = options({});
    o.hosts_path = hosts;
    dns::Resolver resolver(o, engine);
    auto before = dns::sync::gethostbyname(resolver, "changing.test");
    REQUIRE(before);
    CHECK(*before == "192.0.2.7");
    std::ofstream(hosts) << "192.0.2.88 changing.test\n";  // another size: a change whatever the mtime granularity
    run_for(engine, 1100ms);                                 // HostsFile looks at most once a second
    auto after = dns::sync::gethostbyname(resolver, "changing.test");
    REQUIRE(after);
    CHECK(*after == "192.0.2.88");
    ::unlink(hosts.c_str());
}

TEST_CASE("relative names go through the search list as ndots says") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        const auto& name = q.questions[0].name;
        if (name == "www.corp.example." || name == "a.b.") {
            auto r = reply_to(q);
            r.answers.push_back(record(name, dns::A, 300, dns::rdata::A{{10, 0, 0, 9}}));
            s.reply(r, from);
        } else {
            s.reply(reply_to(q, dns::DNS_NAMEERROR), from);
        }
    };
    auto o = options({server.address});
    o.search = std::vector<std::string>{"lab.example", "corp.example"};
    o.ndots = 2;
    dns::Resolver resolver(o, engine);
    // No dot (< ndots): the search domains first, the name as-is last.
    auto www = dns::sync::query(resolver, "www", dns::A);
    CHECK(www.status == dns::DNS_OK);
    CHECK(server.names() == std::vector<std::string>{"www.lab.example.", "www.corp.example."});
    server.queries.clear();
    // One dot, still < ndots: search domains, then the name itself.
    auto ab = dns::sync::query(resolver, "a.b", dns::A);
    CHECK(ab.status == dns::DNS_OK);
    CHECK(server.names() == std::vector<std::string>{"a.b.lab.example.", "a.b.corp.example.", "a.b."});
    server.queries.clear();
    // Two dots (>= ndots): as-is first; every candidate NXDOMAIN.
    auto xyz = dns::sync::query(resolver, "x.y.z", dns::A);
    CHECK(xyz.status == dns::DNS_NAMEERROR);
    CHECK(server.names() == std::vector<std::string>{"x.y.z.", "x.y.z.lab.example.", "x.y.z.corp.example."});
    server.queries.clear();
    // An absolute name is never extended.
    CHECK(dns::sync::query(resolver, "www.", dns::A).status == dns::DNS_NAMEERROR);
    CHECK(server.names() == std::vector<std::string>{"www."});
}

TEST_CASE("gethostbyaddr asks for the PTR of the IPv4 and IPv6 reverse names") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        const auto& name = q.questions[0].name;
        if (name == "4.3.2.1.in-addr.arpa.") {
            r.answers.push_back(record(name, dns::PTR, 300, dns::rdata::PTR{"four.example."}));
            r.answers.push_back(record(name, dns::PTR, 300, dns::rdata::PTR{"quatre.example."}));
        } else if (name == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.") {
            r.answers.push_back(record(name, dns::PTR, 300, dns::rdata::PTR{"six.example."}));
        } else {
            r.rcode = dns::DNS_NAMEERROR;
        }
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto v4 = dns::sync::gethostbyaddr(resolver, "1.2.3.4");
    REQUIRE(v4);
    CHECK(v4->name == "four.example");
    CHECK(v4->aliases == std::vector<std::string>{"quatre.example"});
    CHECK(v4->addresses == std::vector<std::string>{"1.2.3.4"});
    auto v6 = dns::sync::gethostbyaddr(resolver, "2001:db8::1");
    REQUIRE(v6);
    CHECK(v6->name == "six.example");
    CHECK(v6->addresses == std::vector<std::string>{"2001:db8::1"});
    auto unknown = dns::sync::gethostbyaddr(resolver, "10.9.8.7");
    REQUIRE(!unknown);
    CHECK(unknown.error() == dns::DNS_NAMEERROR);
    auto bad = dns::sync::gethostbyaddr(resolver, "not-an-ip");
    REQUIRE(!bad);
    CHECK(bad.error() == dns::DNS_FORMATERROR);
    // The Address overload, with the callback.
    int calls = 0;
    resolver.gethostbyaddr(*Address::parse("1.2.3.4:80"), [&](dns::Status s, dns::HostEntry e) {
        ++calls;
        CHECK(s == dns::DNS_OK);
        CHECK(e.name == "four.example");
    });
    run_until(engine, [&] { return calls == 1; });
}

TEST_CASE("gethostbyname and gethostbyname_ex give addresses, canonical name and aliases") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.answers.push_back(record("alias.example.", dns::CNAME, 300, dns::rdata::CNAME{"canon.example."}));
        r.answers.push_back(record("canon.example.", dns::A, 300, dns::rdata::A{{10, 0, 0, 10}}));
        r.answers.push_back(record("canon.example.", dns::A, 300, dns::rdata::A{{10, 0, 0, 11}}));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto ip = dns::sync::gethostbyname(resolver, "alias.example");
    REQUIRE(ip);
    CHECK(*ip == "10.0.0.10");
    auto ex = dns::sync::gethostbyname_ex(resolver, "alias.example");
    REQUIRE(ex);
    CHECK(ex->name == "canon.example");
    CHECK(ex->aliases == std::vector<std::string>{"alias.example"});
    CHECK(ex->addresses == std::vector<std::string>{"10.0.0.10", "10.0.0.11"});
    auto literal = dns::sync::gethostbyname(resolver, "192.0.2.99");
    REQUIRE(literal);
    CHECK(*literal == "192.0.2.99");
    CHECK(server.queries.size() == 1);  // the second came from the cache, the literal needs none
}

TEST_CASE("resolve and the Task forms work with co_await") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 12});
    dns::Resolver resolver(options({server.address}), engine);
    auto task = [&]() -> pants::Task<std::string> {
        dns::Answer a = co_await resolver.resolve("coro.example", dns::A);
        CHECK(a.status == dns::DNS_OK);
        auto ip = co_await resolver.gethostbyname("coro.example");
        CHECK(ip);
        auto ex = co_await resolver.gethostbyname_ex("coro.example");
        CHECK(ex);
        co_return ip ? *ip : std::string();
    };
    CHECK(engine.run(task()) == "10.0.0.12");
}

TEST_CASE("a resolve cancelled by with_timeout ends on time and ignores the late answer") {
    pants::Engine engine;
    FakeServer server(engine);  // never answers
    dns::Resolver resolver(options({server.address}, 500ms), engine);
    auto task = [&]() -> pants::Task<bool> {
        auto r = co_await pants::with_timeout(engine, 50ms, resolver.resolve("slow.example", dns::A));
        co_return !r && r.error() == std::errc::timed_out;
    };
    CHECK(engine.run(task()));
    run_for(engine, 600ms);  // the lookup times out with nobody waiting
}

TEST_CASE("send_message sends a raw message and gives the reply") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 13});
    dns::Resolver resolver(options({server.address}), engine);
    auto query = dns::encode_query(0x4242, "raw.example.", dns::A);
    REQUIRE(query);
    auto reply = dns::sync::send_message(resolver, *query);
    REQUIRE(reply);
    CHECK(reply->id == 0x4242);
    REQUIRE(reply->answers.size() == 1);
    CHECK(server.queries.size() == 1);
    dns::Status status = dns::DNS_TIMEOUT;
    resolver.send_message({1, 2, 3}, [&](dns::Status s, pants::Result<dns::Message> r) {
        status = s;
        CHECK(!r);
    });
    run_until(engine, [&] { return status != dns::DNS_TIMEOUT; });
    CHECK(status == dns::DNS_FORMATERROR);
}

TEST_CASE("destroying a resolver answers its pending queries with DNS_TIMEOUT") {
    pants::Engine engine;
    FakeServer server(engine);  // never answers
    Got got;
    {
        dns::Resolver resolver(options({server.address}, 5000ms), engine);
        resolver.query("pending.example", dns::A, got.callback());
        run_until(engine, [&] { return server.queries.size() == 1; });
    }
    CHECK(got.calls == 0);
    run_until(engine, [&] { return got.calls == 1; });
    CHECK(got.answer.status == dns::DNS_TIMEOUT);
}

TEST_CASE("a resolver without servers answers DNS_TIMEOUT on a later turn") {
    pants::Engine engine;
    dns::Resolver resolver(std::vector<Address>{}, engine);
    Got got;
    resolver.query("x.example", dns::A, got.callback());
    CHECK(got.calls == 0);
    run_until(engine, [&] { return got.calls == 1; });
    CHECK(got.answer.status == dns::DNS_TIMEOUT);
}

TEST_CASE("rotate spreads queries over the servers") {
    pants::Engine engine;
    FakeServer a(engine), b(engine);
    a.handler = answer_a({10, 0, 0, 14});
    b.handler = answer_a({10, 0, 0, 15});
    auto o = options({a.address, b.address});
    o.rotate = true;
    dns::Resolver resolver(o, engine);
    dns::sync::query(resolver, "r1.example.", dns::A);
    dns::sync::query(resolver, "r2.example.", dns::A);
    CHECK(a.queries.size() == 1);
    CHECK(b.queries.size() == 1);
}

TEST_CASE("a question-less NXDOMAIN is dropped, and an SOA from another zone sets no negative TTL (regression)") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        // A forgery without a question, carrying a day-long SOA of an
        // unrelated zone: it must not settle (or poison) the query...
        auto forged = reply_to(q, dns::DNS_NAMEERROR);
        forged.questions.clear();
        forged.authority.push_back(soa("evil.", 86400, 86400));
        s.reply(forged, from);
        // ...and the real NXDOMAIN, with an SOA of another zone, is not cached.
        auto real = reply_to(q, dns::DNS_NAMEERROR);
        real.authority.push_back(soa("evil.", 86400, 86400));
        s.reply(real, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto first = dns::sync::query(resolver, "www.bank.test.", dns::A);
    CHECK(first.status == dns::DNS_NAMEERROR);
    CHECK(first.ttl == 0);
    dns::sync::query(resolver, "www.bank.test.", dns::A);
    CHECK(server.queries.size() == 2);  // nothing was cached
}

TEST_CASE("a UDP reply too big for the receive buffer is fetched over TCP (regression)") {
    pants::Engine::Options engine_options;
    engine_options.buffer_size = 2048;  // datagrams over 1904 bytes are cut
    pants::Engine engine(engine_options);
    auto big = [](const dns::Message& q) {
        auto r = reply_to(q);
        for (int i = 0; i < 200; ++i)
            r.answers.push_back(record(q.questions[0].name, dns::A, 300,
                                       dns::rdata::A{{10, 0, std::uint8_t(i / 256), std::uint8_t(i % 256)}}));
        return r;
    };
    // TCP first, then UDP on its port: a port the kernel picks for UDP may
    // be the local port of some TCP connection on the machine.
    Tcp::answer = big;
    pants::Server<Tcp> tcp(engine);
    REQUIRE(tcp.listen(Address::loopback_v4(0)));
    FakeServer server(engine, *tcp.local_address());
    server.handler = [&](FakeServer& s, const dns::Message& q, const Address& from) { s.reply(big(q), from); };
    auto o = options({server.address});
    o.edns_udp_size = 65000;
    dns::Resolver resolver(o, engine);
    auto answer = dns::sync::query(resolver, "big.example.", dns::A);
    CHECK(answer.status == dns::DNS_OK);
    CHECK(answer.rdata.size() == 200);
}

// --- regressions and coverage of issue 13 / issue 9.8 --------------------------

namespace {
/// Milliseconds since `start`, for "ended long before its timeout" checks.
long long ms_since(pants::Engine::Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(pants::Engine::now() - start).count();
}
}  // namespace

TEST_CASE("a forged reply without a question is dropped even when its answer differs from the real one") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        // Two question-less forgeries come first, one with records, one
        // NXDOMAIN: either, accepted, would change the outcome.
        auto forged = reply_to(q);
        forged.questions.clear();
        forged.answers.push_back(record("forged.example.", dns::A, 86400, dns::rdata::A{{6, 6, 6, 6}}));
        s.reply(forged, from);
        auto forged_nx = reply_to(q, dns::DNS_NAMEERROR);
        forged_nx.questions.clear();
        s.reply(forged_nx, from);
        auto real = reply_to(q);
        real.answers.push_back(record("forged.example.", dns::A, 300, dns::rdata::A{{10, 0, 0, 16}}));
        s.reply(real, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto answer = dns::sync::query(resolver, "forged.example.", dns::A);
    CHECK(answer.status == dns::DNS_OK);
    REQUIRE(answer.rdata.size() == 1);
    CHECK(a_of(answer.rdata[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 16});
    CHECK(answer.ttl == 300);
}

TEST_CASE("a TTL of 2^31 or more counts as 0 and is not cached, while 2^31-1 is kept (RFC 2181 8)") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        const auto& name = q.questions[0].name;
        auto r = reply_to(q);
        const std::uint32_t ttl = name == "max.example." ? 0x7fffffffu : name == "top.example." ? 0x80000000u : 0xffffffffu;
        r.answers.push_back(record(name, dns::A, ttl, dns::rdata::A{{10, 0, 0, 17}}));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    for (const char* name : {"top.example.", "all.example."}) {
        CAPTURE(name);
        auto first = dns::sync::query(resolver, name, dns::A);
        CHECK(first.status == dns::DNS_OK);
        CHECK(first.ttl == 0);
        CHECK(first.rdata.size() == 1);
    }
    CHECK(server.queries.size() == 2);
    dns::sync::query(resolver, "top.example.", dns::A);
    dns::sync::query(resolver, "all.example.", dns::A);
    CHECK(server.queries.size() == 4);  // TTL 0: neither was cached
    auto max = dns::sync::query(resolver, "max.example.", dns::A);
    CHECK(max.ttl == 0x7fffffffu);
    dns::sync::query(resolver, "max.example.", dns::A);
    CHECK(server.queries.size() == 5);  // the largest valid TTL is cached
}

TEST_CASE("a resolver try whose UDP socket fails after sending ends at once with DNS_NETWORKERROR") {
    pants::Engine engine;
    // A Unix datagram "server" that shut its receiving side: the connect
    // works, the send fails with EPIPE, which ends the socket (not one
    // datagram's error). The try must end then, not at its 5 s timeout.
    const std::string path = "/tmp/pants-resolver-" + std::to_string(::getpid()) + "-shut.sock";
    ::unlink(path.c_str());
    const int peer = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(peer >= 0);
    auto where = Address::unix_path(path);
    REQUIRE(where);
    REQUIRE(::bind(peer, where->data(), where->size()) == 0);
    REQUIRE(::shutdown(peer, SHUT_RD) == 0);
    dns::Resolver resolver(options({*where}, 5000ms, 2), engine);
    const auto start = pants::Engine::now();
    Got got;
    resolver.query("fails.example.", dns::A, got.callback());
    run_until(engine, [&] { return got.calls == 1; }, 20000ms);
    CHECK(got.answer.status == dns::DNS_NETWORKERROR);
    CHECK(ms_since(start) < 2500);  // both tries ended at once: nowhere near 2 x 5 s
    ::close(peer);
    ::unlink(path.c_str());
}

TEST_CASE("running out of descriptors gives DNS_NETWORKERROR at once, not DNS_TIMEOUT") {
    // In a child process: it lowers its own descriptor limit to exactly the
    // descriptors it has, so the resolver's socket() fails with EMFILE.
    int result[2];
    REQUIRE(::pipe(result) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(result[0]);
        int report[2] = {-100, -1};
        {
            pants::Engine engine;
            dns::Resolver resolver(options({Address::loopback_v4(9)}, 5000ms, 2), engine);
            const int lowest_free = ::dup(0);
            ::close(lowest_free);
            rlimit limit{rlim_t(lowest_free), rlim_t(lowest_free)};
            const auto start = pants::Engine::now();
            if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
                auto answer = dns::sync::query(resolver, "nofd.example.", dns::A);
                report[0] = answer.status;
                report[1] = int(ms_since(start));
            }
        }
        (void)!::write(result[1], report, sizeof report);
        ::_exit(0);
    }
    ::close(result[1]);
    int report[2] = {-100, -1};
    pollfd p{result[0], POLLIN, 0};
    REQUIRE(::poll(&p, 1, 20000) == 1);  // bounded: the child answers or the test fails
    CHECK(::read(result[0], report, sizeof report) == ssize_t(sizeof report));
    ::close(result[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(report[0] == dns::DNS_NETWORKERROR);
    CHECK(report[1] >= 0);
    CHECK(report[1] < 2500);  // no try waited for its 5 s timeout
}

TEST_CASE("send_message reports EMFILE-like socket errors as DNS_NETWORKERROR with the errno") {
    pants::Engine engine;
    const std::string path = "/tmp/pants-resolver-" + std::to_string(::getpid()) + "-shut2.sock";
    ::unlink(path.c_str());
    const int peer = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(peer >= 0);
    auto where = Address::unix_path(path);
    REQUIRE(where);
    REQUIRE(::bind(peer, where->data(), where->size()) == 0);
    REQUIRE(::shutdown(peer, SHUT_RD) == 0);
    dns::Resolver resolver(options({*where}, 5000ms, 1), engine);
    auto query = dns::encode_query(0x4243, "raw.example.", dns::A);
    REQUIRE(query);
    std::optional<std::pair<dns::Status, pants::Result<dns::Message>>> got;
    resolver.send_message(*query, [&](dns::Status s, pants::Result<dns::Message> r) { got.emplace(s, std::move(r)); });
    run_until(engine, [&] { return got.has_value(); });
    CHECK(got->first == dns::DNS_NETWORKERROR);
    REQUIRE_FALSE(got->second);
    CHECK(got->second.error() == std::errc::broken_pipe);  // the detail: what the socket said
    ::close(peer);
    ::unlink(path.c_str());
}

namespace {
/// Over TCP, a reply that announces 100 bytes, sends 10, and hangs up.
struct CutShort : pants::Connection {
    CutShort() { read_delimiter = pants::ReadDelimiter::length_prefixed(2); }
    void on_read(std::string_view) override {
        write(std::string_view("\x00\x64" "0123456789", 12));
        end();
    }
};
}  // namespace

TEST_CASE("a TCP reply cut short gives DNS_FORMATERROR, not DNS_TIMEOUT") {
    pants::Engine engine;
    pants::Server<CutShort> tcp(engine);  // first: see the test above
    REQUIRE(tcp.listen(Address::loopback_v4(0)));
    FakeServer server(engine, *tcp.local_address());
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.tc = true;
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}, 5000ms, 1), engine);
    const auto start = pants::Engine::now();
    Got got;
    resolver.query("cut.example.", dns::A, got.callback());
    run_until(engine, [&] { return got.calls == 1; }, 20000ms);
    CHECK(got.answer.status == dns::DNS_FORMATERROR);
    CHECK(ms_since(start) < 2500);  // the cut ended the try, not the timeout
    // send_message says why: the message was truncated.
    auto query = dns::encode_query(0x4244, "cut.example.", dns::A);
    REQUIRE(query);
    std::optional<pants::Result<dns::Message>> reply;
    resolver.send_message(*query, [&](dns::Status s, pants::Result<dns::Message> r) {
        CHECK(s == dns::DNS_FORMATERROR);
        reply = std::move(r);
    });
    run_until(engine, [&] { return reply.has_value(); }, 20000ms);
    REQUIRE_FALSE(*reply);
    CHECK(reply->error() == dns::WireError::truncated);
}

TEST_CASE("a resolve cancelled while its server answers late ends at once and the late answer reaches nobody") {
    pants::Engine engine;
    FakeServer server(engine);
    int answered = 0;
    server.handler = [&](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.answers.push_back(record("late.example.", dns::A, 300, dns::rdata::A{{10, 0, 0, 18}}));
        s.engine().defer(2000ms, [&s, &answered, r, from] {
            s.reply(r, from);
            ++answered;
        });
    };
    dns::Resolver resolver(options({server.address}, 5000ms), engine);
    int resumed = 0;
    auto task = [&]() -> pants::Task<bool> {
        auto r = co_await pants::with_timeout(engine, 50ms, resolver.resolve("late.example", dns::A));
        ++resumed;
        co_return !r && r.error() == std::errc::timed_out;
    };
    const auto start = pants::Engine::now();
    CHECK(engine.run(task()));
    CHECK(ms_since(start) < 1000);  // the cancel ended it, not the answer 2 s later
    CHECK(answered == 0);
    run_until(engine, [&] { return answered == 1; });
    engine.poll(0ms);
    engine.poll(0ms);
    CHECK(resumed == 1);
}

TEST_CASE("clear_cache forgets cached answers: the next query asks the server again") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 19}, 3600);
    dns::Resolver resolver(options({server.address}), engine);
    dns::sync::query(resolver, "clear.example.", dns::A);
    dns::sync::query(resolver, "clear.example.", dns::A);
    CHECK(server.queries.size() == 1);
    resolver.clear_cache();
    auto again = dns::sync::query(resolver, "clear.example.", dns::A);
    CHECK(again.status == dns::DNS_OK);
    CHECK(again.ttl == 3600);
    CHECK(server.queries.size() == 2);
}

TEST_CASE("with Options::cache false every query asks the server, answers and NXDOMAIN alike") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        if (q.questions[0].name == "gone.example.") {
            auto r = reply_to(q, dns::DNS_NAMEERROR);
            r.authority.push_back(soa("example.", 3600, 3600));
            return s.reply(r, from);
        }
        answer_a({10, 0, 0, 20}, 3600)(s, q, from);
    };
    auto o = options({server.address});
    o.cache = false;
    dns::Resolver resolver(o, engine);
    for (int i = 0; i < 2; ++i) {
        CHECK(dns::sync::query(resolver, "nocache.example.", dns::A).status == dns::DNS_OK);
        CHECK(dns::sync::query(resolver, "gone.example.", dns::A).status == dns::DNS_NAMEERROR);
    }
    CHECK(server.queries.size() == 4);
}

TEST_CASE("a resolver's defaults come from resolv.conf: servers, search, ndots, timeout and attempts") {
    pants::Engine engine;
    auto conf = temp_file("resolv.conf",
                          "nameserver 127.0.0.9\nnameserver ::1\nsearch one.test two.test\n"
                          "options ndots:2 timeout:1 attempts:3\n");
    dns::Resolver::Options o;
    o.resolv_conf_path = conf;
    o.hosts_path.clear();
    {
        dns::Resolver from_file(o, engine);
        CHECK(from_file.servers() == std::vector<Address>{*Address::parse("127.0.0.9:53"), *Address::parse("[::1]:53")});
        CHECK(from_file.search() == std::vector<std::string>{"one.test", "two.test"});
    }
    // The same file with a silent test server in place of its nameservers:
    // "x.y" has fewer dots than ndots:2, so the search list comes first;
    // each name gets 3 tries of 1 s.
    FakeServer silent(engine);
    o.servers = {silent.address};
    dns::Resolver resolver(o, engine);
    const auto start = pants::Engine::now();
    Got got;
    resolver.query("x.y", dns::A, got.callback());
    run_until(engine, [&] { return got.calls == 1; }, 20000ms);
    CHECK(got.answer.status == dns::DNS_TIMEOUT);
    CHECK(silent.names() == std::vector<std::string>{"x.y.one.test.", "x.y.one.test.", "x.y.one.test."});
    CHECK(ms_since(start) >= 2900);  // timeout:1 per try, attempts:3
    CHECK(ms_since(start) < 9000);   // not the default 5 s per try
    ::unlink(conf.c_str());
}

TEST_CASE("the README's example: sync::query on the default resolver answers localhost from the hosts file") {
    // The default resolver reads /etc/hosts first: "localhost" never leaves
    // the machine (nor the process) when the hosts file has it.
    auto hosts = dns::HostsFile::load(dns::HostsFile::default_path);
    REQUIRE_MESSAGE(hosts, "no readable /etc/hosts");
    REQUIRE_MESSAGE(!hosts->records("localhost", dns::A).empty(), "/etc/hosts has no IPv4 localhost");
    auto answer = pants::dns::sync::query("localhost", pants::dns::A);
    CHECK(answer.status == pants::dns::DNS_OK);
    REQUIRE(!answer.rdata.empty());
    std::vector<std::string> printed;
    for (const auto& rdata : answer.rdata) printed.push_back(pants::dns::to_string(rdata));
    CHECK(std::find(printed.begin(), printed.end(), "127.0.0.1") != printed.end());
    CHECK(&dns::default_resolver().engine() == &pants::Engine::instance());
}
