// Issue 10, DNS API parity with Pants: per-call query options, every query
// type name, the mail types and WKS, localhost names, EDNS fallback,
// SERVFAIL caching, CNAME aliases, RFC 6724 order and the sync guard.
// Resolver cases talk to the fake server of dns_fake_server.hpp on loopback.
#include <doctest/doctest.h>

#include <pants/dns/detail/address_order.hpp>
#include <pants/pants.hpp>

#include "dns_fake_server.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace pants_test_dns;

namespace {

std::span<const std::uint8_t> span_of(const std::vector<std::uint8_t>& v) { return v; }

/// Milliseconds since `start`, for "ended long before the resolver's own
/// timeout" checks (a bound on behaviour, not a speed claim).
long long ms_since(pants::Engine::Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(pants::Engine::now() - start).count();
}

}  // namespace

// --- query types and opcodes ---------------------------------------------------

TEST_CASE("every query type name Pants has maps to its IANA number and back") {
    // Pants' QTYPES, in order: A = 1 .. NSEC3PARAM = 51.
    const std::vector<std::pair<std::string, std::uint16_t>> pants_types{
        {"A", dns::A},           {"NS", dns::NS},         {"MD", dns::MD},             {"MF", dns::MF},
        {"CNAME", dns::CNAME},   {"SOA", dns::SOA},       {"MB", dns::MB},             {"MG", dns::MG},
        {"MR", dns::MR},         {"NULL", dns::NULL_},    {"WKS", dns::WKS},           {"PTR", dns::PTR},
        {"HINFO", dns::HINFO},   {"MINFO", dns::MINFO},   {"MX", dns::MX},             {"TXT", dns::TXT},
        {"RP", dns::RP},         {"AFSDB", dns::AFSDB},   {"X25", dns::X25},           {"ISDN", dns::ISDN},
        {"RT", dns::RT},         {"NSAP", dns::NSAP},     {"NSAP_PTR", dns::NSAP_PTR}, {"SIG", dns::SIG},
        {"KEY", dns::KEY},       {"PX", dns::PX},         {"GPOS", dns::GPOS},         {"AAAA", dns::AAAA},
        {"LOC", dns::LOC},       {"NXT", dns::NXT},       {"EID", dns::EID},           {"NIMLOC", dns::NIMLOC},
        {"SRV", dns::SRV},       {"ATMA", dns::ATMA},     {"NAPTR", dns::NAPTR},       {"KX", dns::KX},
        {"CERT", dns::CERT},     {"A6", dns::A6},         {"DNAME", dns::DNAME},       {"SINK", dns::SINK},
        {"OPT", dns::OPT},       {"APL", dns::APL},       {"DS", dns::DS},             {"SSHFP", dns::SSHFP},
        {"IPSECKEY", dns::IPSECKEY}, {"RRSIG", dns::RRSIG}, {"NSEC", dns::NSEC},       {"DNSKEY", dns::DNSKEY},
        {"DHCID", dns::DHCID},   {"NSEC3", dns::NSEC3},   {"NSEC3PARAM", dns::NSEC3PARAM},
    };
    REQUIRE(pants_types.size() == 51);
    for (std::size_t i = 0; i < pants_types.size(); ++i) {
        const auto& [name, value] = pants_types[i];
        CAPTURE(name);
        CHECK(value == i + 1);  // Pants: range(1, 52)
        CHECK(dns::type_from_string(name) == value);
        // dig's spelling of 23 has a hyphen; every other name prints as is.
        CHECK(dns::type_to_string(value) == (value == dns::NSAP_PTR ? "NSAP-PTR" : name));
        CHECK(dns::type_from_string(dns::type_to_string(value)) == value);
    }
    CHECK(dns::type_from_string("nsap-ptr") == dns::NSAP_PTR);
    CHECK(dns::type_to_string(52) == "TLSA");
    CHECK(dns::type_to_string(99) == "TYPE99");
}

TEST_CASE("the OP_ opcodes have Pants' values and dig's names") {
    CHECK(dns::OP_QUERY == 0);
    CHECK(dns::OP_IQUERY == 1);
    CHECK(dns::OP_STATUS == 2);
    CHECK(dns::opcode_to_string(dns::OP_QUERY) == "QUERY");
    CHECK(dns::opcode_to_string(dns::OP_IQUERY) == "IQUERY");
    CHECK(dns::opcode_to_string(dns::OP_STATUS) == "STATUS");
    CHECK(dns::opcode_to_string(dns::OP_NOTIFY) == "NOTIFY");
    CHECK(dns::opcode_to_string(dns::OP_UPDATE) == "UPDATE");
    dns::Message m;
    m.opcode = dns::OP_STATUS;
    auto wire = dns::encode(m);
    REQUIRE(wire);
    CHECK(((*wire)[2] >> 3 & 0xF) == dns::OP_STATUS);
    CHECK(dns::decode(*wire)->opcode == dns::OP_STATUS);
}

// --- MB, MD, MF, MG, MR and WKS ------------------------------------------------

TEST_CASE("MB, MD, MF, MG, MR and WKS decode to typed RDATA, print as dig does and round-trip") {
    dns::Message m;
    m.id = 7;
    m.qr = true;
    m.questions.push_back({"example.com.", dns::ANY, dns::IN});
    m.answers.push_back(record("example.com.", dns::MB, 60, dns::rdata::MB{"mb.example.com."}));
    m.answers.push_back(record("example.com.", dns::MD, 60, dns::rdata::MD{"md.example.com."}));
    m.answers.push_back(record("example.com.", dns::MF, 60, dns::rdata::MF{"mf.example.com."}));
    m.answers.push_back(record("example.com.", dns::MG, 60, dns::rdata::MG{"mg.example.com."}));
    m.answers.push_back(record("example.com.", dns::MR, 60, dns::rdata::MR{"mr.example.com."}));
    // Ports 25 and 80 of TCP (protocol 6) at 192.0.2.1.
    std::vector<std::uint8_t> bitmap(11, 0);
    bitmap[25 / 8] |= 0x80 >> (25 % 8);
    bitmap[80 / 8] |= 0x80 >> (80 % 8);
    m.answers.push_back(record("example.com.", dns::WKS, 60, dns::rdata::WKS{{192, 0, 2, 1}, 6, bitmap}));

    auto wire = dns::encode(m);
    REQUIRE(wire);
    auto back = dns::decode(*wire);
    REQUIRE(back);
    CHECK(*back == m);
    REQUIRE(back->answers.size() == 6);
    CHECK(std::holds_alternative<dns::rdata::MB>(back->answers[0].data));
    CHECK(std::holds_alternative<dns::rdata::WKS>(back->answers[5].data));
    CHECK(dns::to_string(back->answers[0].data) == "mb.example.com.");
    CHECK(dns::to_string(back->answers[1].data) == "md.example.com.");
    CHECK(dns::to_string(back->answers[2].data) == "mf.example.com.");
    CHECK(dns::to_string(back->answers[3].data) == "mg.example.com.");
    CHECK(dns::to_string(back->answers[4].data) == "mr.example.com.");
    CHECK(dns::to_string(back->answers[5].data) == "192.0.2.1 6 25 80");
    CHECK(dns::to_string(back->answers[0]) == "example.com.\t\t60\tIN\tMB\tmb.example.com.");
    CHECK(dns::rdata_type(back->answers[5].data) == dns::WKS);

    // RFC 3597 4: the RFC 1035 types' names are compressed: each of the
    // five costs its first label and a pointer, not the whole name again.
    dns::Message one;
    one.answers.push_back(record("example.com.", dns::MG, 60, dns::rdata::MG{"mg.example.com."}));
    auto small = dns::encode(one);
    REQUIRE(small);
    // 12 header + 13 owner + 10 fixed + RDATA (1+2 label "mg" + 2 pointer).
    CHECK(small->size() == 12 + 13 + 10 + 5);
}

TEST_CASE("WKS is typed only in class IN, and a bit map past port 65535 is malformed") {
    dns::Message m;
    dns::rdata::Raw raw{{10, 0, 0, 1, 17, 0x40}};
    m.answers.push_back(dns::ResourceRecord{"x.", dns::WKS, dns::CH, 0, raw});
    auto wire = dns::encode(m);
    REQUIRE(wire);
    auto back = dns::decode(*wire);
    REQUIRE(back);
    CHECK(std::holds_alternative<dns::rdata::Raw>(back->answers[0].data));

    dns::Message big;
    big.answers.push_back(record("x.", dns::WKS, 0, dns::rdata::WKS{{10, 0, 0, 1}, 6, std::vector<std::uint8_t>(8193, 0)}));
    CHECK(dns::encode(big).error() == dns::WireError::bad_rdata);
    // The same bytes sent as Raw must not decode as WKS either.
    std::vector<std::uint8_t> bytes{10, 0, 0, 1, 6};
    bytes.resize(5 + 8193, 0);
    dns::Message raw_big;
    raw_big.answers.push_back(dns::ResourceRecord{"x.", dns::WKS, dns::IN, 0, dns::rdata::Raw{bytes}});
    auto raw_wire = dns::encode(raw_big);
    REQUIRE(raw_wire);
    CHECK(dns::decode(*raw_wire).error() == dns::WireError::bad_rdata);
    // 8192 bytes (ports 0..65535) is the most there can be, and fine.
    bytes.resize(5 + 8192);
    raw_big.answers[0].data = dns::rdata::Raw{bytes};
    CHECK(dns::decode(*dns::encode(raw_big)).has_value());
    // A WKS shorter than address and protocol is malformed.
    dns::Message short_wks;
    short_wks.answers.push_back(dns::ResourceRecord{"x.", dns::WKS, dns::IN, 0, dns::rdata::Raw{{10, 0, 0, 1}}});
    CHECK(dns::decode(*dns::encode(short_wks)).error() == dns::WireError::rdata_length_mismatch);
}

TEST_CASE("the fuzz seeds of the new types decode to their typed RDATA") {
    // dns/fuzz/corpus/*.bin are replayed by fuzz/run.sh; these are the new ones.
    // Beside the source when __FILE__ is usable from here (meson runs tests
    // in the build directory), else from the project root.
    auto root = std::filesystem::path(__FILE__).parent_path().parent_path() / "dns" / "fuzz" / "corpus";
    if (!std::filesystem::exists(root)) root = std::filesystem::path("dns") / "fuzz" / "corpus";
    const std::vector<std::pair<std::string, std::uint16_t>> seeds{
        {"mb.bin", dns::MB}, {"md.bin", dns::MD}, {"mf.bin", dns::MF},
        {"mg.bin", dns::MG}, {"mr.bin", dns::MR}, {"wks.bin", dns::WKS}};
    for (const auto& [file, type] : seeds) {
        CAPTURE(file);
        std::ifstream in(root / file, std::ios::binary);
        REQUIRE(in);
        std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto m = dns::decode(span_of(bytes));
        REQUIRE(m);
        REQUIRE(m->answers.size() == 1);
        CHECK(m->answers[0].type == type);
        CHECK(dns::rdata_type(m->answers[0].data) == type);
    }
}

// --- query() and send_message() per-call options --------------------------------

TEST_CASE("query without a type asks for A in class IN, in callback, co_await and sync forms") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 1});
    dns::Resolver resolver(options({server.address}), engine);
    Got got;
    resolver.query("plain.example.", got.callback());
    CHECK(got.calls == 0);
    run_until(engine, [&] { return got.calls == 1; });
    CHECK(got.answer.status == dns::DNS_OK);
    REQUIRE(server.queries.size() == 1);
    CHECK(server.queries[0].questions[0] == dns::Question{"plain.example.", dns::A, dns::IN});

    auto task = [&]() -> pants::Task<dns::Answer> { co_return co_await resolver.resolve("coro.example."); };
    CHECK(engine.run(task()).status == dns::DNS_OK);
    CHECK(dns::sync::query(resolver, "sync.example.").status == dns::DNS_OK);
    REQUIRE(server.queries.size() == 3);
    CHECK(server.queries[1].questions[0].type == dns::A);
    CHECK(server.queries[2].questions[0].type == dns::A);
}

TEST_CASE("the class argument is asked and cached apart from class IN") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        const auto& question = q.questions[0];
        std::string text = question.klass == dns::CH ? "chaos" : "internet";
        r.answers.push_back(dns::ResourceRecord{question.name, dns::TXT, question.klass, 300, dns::rdata::TXT{{text}}});
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto ch = dns::sync::query(resolver, "version.bind.", dns::TXT, {.klass = dns::CH});
    CHECK(ch.status == dns::DNS_OK);
    REQUIRE(ch.rdata.size() == 1);
    CHECK(std::get<dns::rdata::TXT>(ch.rdata[0]).strings == std::vector<std::string>{"chaos"});
    REQUIRE(server.queries.size() == 1);
    CHECK(server.queries[0].questions[0].klass == dns::CH);
    // The IN answer is not the CH one from the cache...
    auto in = dns::sync::query(resolver, "version.bind.", dns::TXT);
    REQUIRE(in.rdata.size() == 1);
    CHECK(std::get<dns::rdata::TXT>(in.rdata[0]).strings == std::vector<std::string>{"internet"});
    CHECK(server.queries.size() == 2);
    // ...but each is cached under its own class.
    CHECK(std::get<dns::rdata::TXT>(dns::sync::query(resolver, "version.bind.", dns::TXT, {.klass = dns::CH}).rdata[0])
              .strings[0] == "chaos");
    CHECK(server.queries.size() == 2);
}

TEST_CASE("a per-call timeout bounds the whole query, in callback, co_await and sync forms") {
    pants::Engine engine;
    FakeServer silent(engine);  // records queries, never answers
    // The resolver alone would wait 5 s per try, twice.
    dns::Resolver resolver(options({silent.address}, 5000ms, 2), engine);
    const auto start = pants::Engine::now();
    Got got;
    resolver.query("slow.example.", dns::A, {.timeout = 100ms}, got.callback());
    CHECK(got.calls == 0);
    run_until(engine, [&] { return got.calls == 1; });
    CHECK(got.answer.status == dns::DNS_TIMEOUT);
    CHECK(ms_since(start) < 4000);
    // The tries under it were shortened too: the lookup ends by itself,
    // and the callback is not called a second time.
    run_until(engine, [&] { return engine.pending_timers() == 0; });
    CHECK(got.calls == 1);
    CHECK(silent.queries.size() == 2);

    auto task = [&]() -> pants::Task<dns::Answer> {
        co_return co_await resolver.resolve("slow2.example.", dns::A, {.timeout = 100ms});
    };
    CHECK(engine.run(task()).status == dns::DNS_TIMEOUT);
    CHECK(dns::sync::query(resolver, "slow3.example.", dns::A, {.timeout = 100ms}).status == dns::DNS_TIMEOUT);
    CHECK(ms_since(start) < 8000);
}

TEST_CASE("use_cache false neither reads nor fills the cache") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 2});
    dns::Resolver resolver(options({server.address}), engine);
    CHECK(dns::sync::query(resolver, "nocache.example.", dns::A, {.use_cache = false}).status == dns::DNS_OK);
    CHECK(dns::sync::query(resolver, "nocache.example.").status == dns::DNS_OK);
    CHECK(server.queries.size() == 2);  // the first answer was not stored
    CHECK(dns::sync::query(resolver, "nocache.example.", dns::A, {.use_cache = false}).status == dns::DNS_OK);
    CHECK(server.queries.size() == 3);  // the cached one was not read
    CHECK(dns::sync::query(resolver, "nocache.example.").status == dns::DNS_OK);
    CHECK(server.queries.size() == 3);  // the second answer is still cached
}

TEST_CASE("use_hosts false skips the hosts file and asks the servers") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 3});
    auto o = options({server.address});
    o.hosts_path = temp_file("api-hosts", "10.9.9.9 fromhosts.example\n");
    dns::Resolver resolver(o, engine);
    auto from_hosts = dns::sync::query(resolver, "fromhosts.example");
    REQUIRE(from_hosts.rdata.size() == 1);
    CHECK(a_of(from_hosts.rdata[0]).address == std::array<std::uint8_t, 4>{10, 9, 9, 9});
    CHECK(server.queries.empty());
    auto from_server = dns::sync::query(resolver, "fromhosts.example", dns::A, {.use_hosts = false});
    REQUIRE(from_server.rdata.size() == 1);
    CHECK(a_of(from_server.rdata[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 3});
    CHECK(server.queries.size() == 1);
    ::unlink(o.hosts_path.c_str());
}

TEST_CASE("tcp asks over TCP from the first try, for query and send_message") {
    pants::Engine engine;
    Tcp::queries.clear();
    Tcp::answer = [](const dns::Message& q) {
        auto r = reply_to(q);
        r.answers.push_back(record(q.questions[0].name, dns::A, 300, dns::rdata::A{{10, 0, 0, 5}}));
        return r;
    };
    // TCP first, then UDP on its port: a port the kernel picks for UDP may
    // be the local port of some TCP connection on the machine, and then the
    // listener could not have it.
    pants::Server<Tcp> tcp(engine);
    REQUIRE(tcp.listen(Address::loopback_v4(0)));
    FakeServer udp(engine, *tcp.local_address());
    udp.handler = answer_a({10, 0, 0, 4});
    dns::Resolver resolver(options({udp.address}), engine);
    auto answer = dns::sync::query(resolver, "tcp.example.", dns::A, {.tcp = true});
    CHECK(answer.status == dns::DNS_OK);
    REQUIRE(answer.rdata.size() == 1);
    CHECK(a_of(answer.rdata[0]).address == std::array<std::uint8_t, 4>{10, 0, 0, 5});
    CHECK(udp.queries.empty());
    CHECK(Tcp::queries.size() == 1);

    auto query = dns::encode_query(0x4242, "raw.example.", dns::A);
    REQUIRE(query);
    auto reply = dns::sync::send_message(resolver, *query, {.tcp = true});
    REQUIRE(reply);
    CHECK(reply->id == 0x4242);
    CHECK(a_of(reply->answers.at(0).data).address == std::array<std::uint8_t, 4>{10, 0, 0, 5});
    CHECK(Tcp::queries.size() == 2);
    CHECK(udp.queries.empty());
    // Without the option the same resolver uses UDP.
    CHECK(a_of(dns::sync::query(resolver, "udp.example.").rdata.at(0)).address ==
          std::array<std::uint8_t, 4>{10, 0, 0, 4});
    CHECK(udp.queries.size() == 1);
}

TEST_CASE("send_message with a per-call timeout gives DNS_TIMEOUT in callback, co_await and sync forms") {
    pants::Engine engine;
    FakeServer silent(engine);
    dns::Resolver resolver(options({silent.address}, 5000ms, 2), engine);
    auto query = dns::encode_query(0x1111, "quiet.example.", dns::A);
    REQUIRE(query);
    const auto start = pants::Engine::now();
    int calls = 0;
    dns::Status status = dns::DNS_OK;
    resolver.send_message(*query, {.timeout = 100ms}, [&](dns::Status s, pants::Result<dns::Message> reply) {
        ++calls;
        status = s;
        CHECK(!reply);
    });
    CHECK(calls == 0);
    run_until(engine, [&] { return calls == 1; });
    CHECK(status == dns::DNS_TIMEOUT);
    auto task = [&]() -> pants::Task<pants::Result<dns::Message>> {
        co_return co_await resolver.send_message(*query, {.timeout = 100ms});
    };
    auto coro = engine.run(task());
    REQUIRE(!coro);
    CHECK(coro.error() == dns::make_error_code(dns::DNS_TIMEOUT));
    auto blocking = dns::sync::send_message(resolver, *query, {.timeout = 100ms});
    REQUIRE(!blocking);
    CHECK(blocking.error() == dns::make_error_code(dns::DNS_TIMEOUT));
    CHECK(ms_since(start) < 4000);
    run_until(engine, [&] { return engine.pending_timers() == 0; });
    CHECK(calls == 1);
}

// --- localhost, EDNS fallback, SERVFAIL cache ------------------------------------

TEST_CASE("localhost and names under it are answered locally even when the hosts file lacks them") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 6});
    auto o = options({server.address});
    o.hosts_path = temp_file("api-empty-hosts", "10.1.1.1 other.example\n");
    dns::Resolver resolver(o, engine);
    auto a = dns::sync::query(resolver, "localhost");
    REQUIRE(a.rdata.size() == 1);
    CHECK(a_of(a.rdata[0]).address == std::array<std::uint8_t, 4>{127, 0, 0, 1});
    auto aaaa = dns::sync::query(resolver, "App.LOCALHOST.", dns::AAAA);
    CHECK(aaaa.status == dns::DNS_OK);
    REQUIRE(aaaa.rdata.size() == 1);
    CHECK(std::get<dns::rdata::AAAA>(aaaa.rdata[0]).address ==
          std::array<std::uint8_t, 16>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    auto mx = dns::sync::query(resolver, "mail.localhost", dns::MX);
    CHECK(mx.status == dns::DNS_OK);  // NODATA: the name exists, without MX
    CHECK(mx.rdata.empty());
    // Neither the hosts switch nor the cache switch changes that.
    CHECK(dns::sync::query(resolver, "localhost.", dns::A, {.use_cache = false, .use_hosts = false}).rdata.size() == 1);
    CHECK(*dns::sync::gethostbyname(resolver, "x.localhost") == "127.0.0.1");
    CHECK(server.queries.empty());
    // Look-alikes go to the server.
    dns::sync::query(resolver, "notlocalhost.");
    dns::sync::query(resolver, "localhost.example.");
    CHECK(server.names() == std::vector<std::string>{"notlocalhost.", "localhost.example."});
    ::unlink(o.hosts_path.c_str());
}

TEST_CASE("a FORMERR without OPT to a query with EDNS is asked again without it") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        if (q.edns) return s.reply(reply_to(q, dns::DNS_FORMATERROR), from);  // an old server
        auto r = reply_to(q);
        r.answers.push_back(record(q.questions[0].name, dns::A, 300, dns::rdata::A{{10, 0, 0, 7}}));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto answer = dns::sync::query(resolver, "old.example.");
    CHECK(answer.status == dns::DNS_OK);
    REQUIRE(answer.rdata.size() == 1);
    REQUIRE(server.queries.size() == 2);
    CHECK(server.queries[0].edns.has_value());
    CHECK(!server.queries[1].edns.has_value());
    CHECK(server.queries[1].questions == server.queries[0].questions);
}

TEST_CASE("a FORMERR that carries OPT is a real format error: no retry") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q, dns::DNS_FORMATERROR);
        r.edns = dns::Edns{};
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    CHECK(dns::sync::query(resolver, "bad.example.").status == dns::DNS_FORMATERROR);
    CHECK(server.queries.size() == 1);
}

TEST_CASE("a SERVFAIL from every server is cached for servfail_ttl, then asked again") {
    pants::Engine engine;
    FakeServer a(engine), b(engine);
    auto servfail = [](FakeServer& s, const dns::Message& q, const Address& from) {
        s.reply(reply_to(q, dns::DNS_SERVERFAILURE), from);
    };
    a.handler = servfail;
    b.handler = servfail;
    auto o = options({a.address, b.address});
    o.servfail_ttl = std::chrono::seconds(1);
    dns::Resolver resolver(o, engine);
    CHECK(dns::sync::query(resolver, "failing.example.").status == dns::DNS_SERVERFAILURE);
    CHECK(a.queries.size() == 1);
    CHECK(b.queries.size() == 1);
    CHECK(dns::sync::query(resolver, "failing.example.").status == dns::DNS_SERVERFAILURE);
    CHECK(a.queries.size() == 1);  // from the cache
    // use_cache false asks anyway.
    CHECK(dns::sync::query(resolver, "failing.example.", dns::A, {.use_cache = false}).status ==
          dns::DNS_SERVERFAILURE);
    CHECK(a.queries.size() == 2);
    run_for(engine, 1100ms);
    a.handler = answer_a({10, 0, 0, 8});
    CHECK(dns::sync::query(resolver, "failing.example.").status == dns::DNS_OK);
    CHECK(a.queries.size() == 3);
}

TEST_CASE("a SERVFAIL is not cached when another server stayed silent, nor with servfail_ttl 0") {
    pants::Engine engine;
    FakeServer failing(engine), silent(engine);
    failing.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        s.reply(reply_to(q, dns::DNS_SERVERFAILURE), from);
    };
    dns::Resolver resolver(options({failing.address, silent.address}, 100ms), engine);
    CHECK(dns::sync::query(resolver, "half.example.").status == dns::DNS_SERVERFAILURE);
    CHECK(dns::sync::query(resolver, "half.example.").status == dns::DNS_SERVERFAILURE);
    CHECK(failing.queries.size() == 2);

    auto o = options({failing.address});
    o.servfail_ttl = std::chrono::seconds(0);
    dns::Resolver uncached(o, engine);
    dns::sync::query(uncached, "never.example.");
    dns::sync::query(uncached, "never.example.");
    CHECK(failing.queries.size() == 4);
}

// --- gethostbyname_ex aliases, RFC 6724 order ------------------------------------

TEST_CASE("gethostbyname_ex lists every name of the CNAME chain as an alias") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.answers.push_back(record("www.example.com.", dns::CNAME, 300, dns::rdata::CNAME{"edge.example.net."}));
        r.answers.push_back(record("edge.example.net.", dns::CNAME, 300, dns::rdata::CNAME{"host.example.org."}));
        r.answers.push_back(record("host.example.org.", dns::A, 300, dns::rdata::A{{192, 0, 2, 9}}));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto entry = dns::sync::gethostbyname_ex(resolver, "www.example.com");
    REQUIRE(entry);
    CHECK(entry->name == "host.example.org");
    CHECK(entry->aliases == std::vector<std::string>{"www.example.com", "edge.example.net"});
    CHECK(entry->addresses == std::vector<std::string>{"192.0.2.9"});
    // The second time the chain comes from the cache, whole.
    auto cached = dns::sync::gethostbyname_ex(resolver, "www.example.com");
    REQUIRE(cached);
    CHECK(cached->aliases == entry->aliases);
    CHECK(server.queries.size() == 1);
}

namespace {
dns::detail::Destination dest(const char* address, const char* source) {
    dns::detail::Destination d{*Address::from_ip(address, 0), std::nullopt};
    if (source) d.source = *Address::from_ip(source, 0);
    return d;
}

std::vector<std::string> order(std::vector<dns::detail::Destination> list) {
    dns::detail::order_destinations(list);
    std::vector<std::string> out;
    for (const auto& d : list) out.push_back(d.address.host());
    return out;
}
}  // namespace

TEST_CASE("RFC 6724 rules order destinations by their source addresses") {
    // Rule 1: a destination without a route goes last.
    CHECK(order({dest("2001:db8::1", nullptr), dest("2001:db8::2", "2001:db8::5")}) ==
          std::vector<std::string>{"2001:db8::2", "2001:db8::1"});
    // Rule 2: matching scope first (a global destination from a link-local
    // source loses to a link-local one), before precedence.
    CHECK(order({dest("2001:db8::1", "fe80::5"), dest("fe80::2", "fe80::5")}) ==
          std::vector<std::string>{"fe80::2", "2001:db8::1"});
    // Rule 5: matching label first (6to4 2002::/16 from a native source).
    CHECK(order({dest("2002:c000:201::1", "2001:db8::5"), dest("2001:db8::1", "2001:db8::5")}) ==
          std::vector<std::string>{"2001:db8::1", "2002:c000:201::1"});
    // Rule 6: higher precedence first (::/0 is 40, ULA fc00::/7 is 3).
    CHECK(order({dest("fd00::1", "fd00::5"), dest("2001:db8::1", "2001:db8::5")}) ==
          std::vector<std::string>{"2001:db8::1", "fd00::1"});
    // Rule 8: smaller scope first (IPv4 loopback is link-local scope).
    CHECK(order({dest("192.0.2.1", "192.0.2.100"), dest("127.0.0.2", "127.0.0.1")}) ==
          std::vector<std::string>{"127.0.0.2", "192.0.2.1"});
    // Rule 9: the longer prefix shared with the source first, IPv6 only...
    CHECK(order({dest("2001:db8:2::1", "2001:db8:1::5"), dest("2001:db8:1::1", "2001:db8:1::5")}) ==
          std::vector<std::string>{"2001:db8:1::1", "2001:db8:2::1"});
    // ...IPv4 keeps the server's order (DNS round robin).
    CHECK(order({dest("192.168.1.1", "10.0.0.5"), dest("10.0.0.1", "10.0.0.5")}) ==
          std::vector<std::string>{"192.168.1.1", "10.0.0.1"});
    // Rule 10: ties keep their order.
    CHECK(order({dest("2001:db8::2", "2001:db8::5"), dest("2001:db8::1", "2001:db8::5")}) ==
          std::vector<std::string>{"2001:db8::2", "2001:db8::1"});
}

TEST_CASE("sort_destinations asks the kernel for sources: loopback before an address beyond it") {
    // 127.0.0.2 has a source (127.0.0.1) of its own scope. 192.0.2.1 either
    // has no route here (rule 1) or a global source (then rule 8): last
    // either way.
    std::vector<Address> v4{*Address::from_ip("192.0.2.1", 0), *Address::from_ip("127.0.0.2", 0)};
    dns::sort_destinations(v4);
    CHECK(v4[0].host() == "127.0.0.2");
    CHECK(v4[1].host() == "192.0.2.1");
    // ::1 (precedence 50) before 2001:db8::1 (no route, or precedence 40).
    std::vector<Address> v6{*Address::from_ip("2001:db8::1", 0), *Address::from_ip("::1", 0)};
    dns::sort_destinations(v6);
    CHECK(v6[0].host() == "::1");
}

TEST_CASE("gethostbyname_ex and gethostbyname give addresses in RFC 6724 order, query in the server's") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = [](FakeServer& s, const dns::Message& q, const Address& from) {
        auto r = reply_to(q);
        r.answers.push_back(record(q.questions[0].name, dns::A, 300, dns::rdata::A{{192, 0, 2, 1}}));
        r.answers.push_back(record(q.questions[0].name, dns::A, 300, dns::rdata::A{{127, 0, 0, 2}}));
        s.reply(r, from);
    };
    dns::Resolver resolver(options({server.address}), engine);
    auto entry = dns::sync::gethostbyname_ex(resolver, "two.example");
    REQUIRE(entry);
    CHECK(entry->addresses == std::vector<std::string>{"127.0.0.2", "192.0.2.1"});
    CHECK(*dns::sync::gethostbyname(resolver, "two.example") == "127.0.0.2");
    auto raw = dns::sync::query(resolver, "two.example");
    REQUIRE(raw.rdata.size() == 2);
    CHECK(a_of(raw.rdata[0]).address == std::array<std::uint8_t, 4>{192, 0, 2, 1});
}

// --- sync inside the loop ------------------------------------------------------

TEST_CASE("dns::sync called from inside its engine's callback or coroutine throws logic_error and asks nothing") {
    pants::Engine engine;
    FakeServer server(engine);
    server.handler = answer_a({10, 0, 0, 10});
    dns::Resolver resolver(options({server.address}), engine);
    int thrown = 0;
    bool ran = false;
    auto expect_throw = [&](const std::function<void()>& f) {
        try {
            f();
        } catch (const std::logic_error& e) {
            ++thrown;
            CHECK(std::string(e.what()).find("pants::dns::sync::") != std::string::npos);
        }
    };
    auto t = engine.callback([&] {
        expect_throw([&] { dns::sync::query(resolver, "inside.example."); });
        expect_throw([&] { (void)dns::sync::send_message(resolver, *dns::encode_query(1, "inside.example.", dns::A)); });
        expect_throw([&] { (void)dns::sync::gethostbyname(resolver, "inside.example."); });
        expect_throw([&] { (void)dns::sync::gethostbyname_ex(resolver, "inside.example."); });
        expect_throw([&] { (void)dns::sync::gethostbyaddr(resolver, "192.0.2.1"); });
        ran = true;
    });
    run_until(engine, [&] { return ran; });
    CHECK(thrown == 5);
    auto task = [&]() -> pants::Task<bool> {
        // Resumed by the engine: from here on the coroutine runs in a turn.
        co_await engine.sleep(1ms);
        try {
            dns::sync::query(resolver, "coroutine.example.");
        } catch (const std::logic_error&) {
            co_return true;
        }
        co_return false;
    };
    CHECK(engine.run(task()));
    CHECK(server.queries.empty());
    // Outside the loop the same call works.
    CHECK(dns::sync::query(resolver, "outside.example.").status == dns::DNS_OK);
}

TEST_CASE("Pants' module-level query and sync::query default to A on the default resolver") {
    // The default resolver answers localhost itself, whatever the system's
    // hosts file and servers are.
    auto answer = dns::sync::query("localhost");
    CHECK(answer.status == dns::DNS_OK);
    REQUIRE(answer.rdata.size() >= 1);
    CHECK(std::holds_alternative<dns::rdata::A>(answer.rdata[0]));
    Got got;
    dns::query("localhost", got.callback());
    run_until(pants::Engine::instance(), [&] { return got.calls == 1; });
    REQUIRE(!got.answer.rdata.empty());
    CHECK(std::holds_alternative<dns::rdata::A>(got.answer.rdata[0]));
}
