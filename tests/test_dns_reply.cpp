// Replies read in place (dns/resolver_reply.*, issue 14): scan_reply()
// accepts exactly what decode() accepts, with the same error; reply_matches()
// compares the echoed question in wire form; answer_from_reply() follows
// compression pointers and CNAME chains without building a Message. Most
// replies here are written byte by byte, so the pointers are the ones the
// test means (encode() would choose its own).
#include <doctest/doctest.h>

#include <pants/dns/message.hpp>

#include <array>
#include <initializer_list>
#include <string>
#include <vector>

#include "../dns/resolver_reply.hpp"

namespace dns = pants::dns;
using dns::detail::answer_from_reply;
using dns::detail::Expected;
using dns::detail::Reply;
using dns::detail::reply_matches;
using dns::detail::scan_reply;
using dns::detail::WireName;
using Bytes = std::vector<std::uint8_t>;

namespace {

// Appends to a message under construction.
struct Builder {
    Bytes b;

    Builder& u8(std::uint8_t v) {
        b.push_back(v);
        return *this;
    }
    Builder& u16(std::uint16_t v) { return u8(std::uint8_t(v >> 8)).u8(std::uint8_t(v)); }
    Builder& u32(std::uint32_t v) { return u16(std::uint16_t(v >> 16)).u16(std::uint16_t(v)); }
    Builder& raw(std::initializer_list<std::uint8_t> bytes) {
        b.insert(b.end(), bytes);
        return *this;
    }
    // Labels of a dotted name, ending with the root label.
    Builder& name(const std::string& dotted) {
        std::size_t start = 0;
        while (start < dotted.size()) {
            std::size_t dot = dotted.find('.', start);
            if (dot == std::string::npos) dot = dotted.size();
            u8(std::uint8_t(dot - start));
            for (std::size_t i = start; i < dot; ++i) u8(std::uint8_t(dotted[i]));
            start = dot + 1;
        }
        return u8(0);
    }
    Builder& pointer(std::uint16_t offset) { return u16(std::uint16_t(0xC000 | offset)); }
    // TYPE, CLASS IN, TTL, RDLENGTH: the RDATA follows.
    Builder& rr_fixed(std::uint16_t type, std::uint32_t ttl, std::uint16_t rdlength, std::uint16_t klass = dns::IN) {
        return u16(type).u16(klass).u32(ttl).u16(rdlength);
    }
    std::size_t size() const { return b.size(); }
};

// Header with the given id, flags and counts; the question at offset 12.
Builder header(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an, std::uint16_t ns,
               std::uint16_t ar) {
    Builder m;
    m.u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
    return m;
}

constexpr std::uint16_t kResponse = 0x8180;  // QR, RD, RA, NOERROR

WireName wire(const std::string& presentation) {
    WireName out;
    REQUIRE(dns::detail::name_to_wire(presentation, out) == dns::WireError::ok);
    return out;
}

Reply accepted(const Bytes& bytes) {
    auto layout = scan_reply(bytes);
    REQUIRE_MESSAGE(layout.has_value(), layout.error().message());
    // decode() must agree: the raw send_message() path decodes these bytes.
    REQUIRE(dns::decode(bytes).has_value());
    return Reply{*layout, bytes};
}

dns::WireError rejected(const Bytes& bytes) {
    auto layout = scan_reply(bytes);
    REQUIRE_FALSE(layout.has_value());
    auto message = dns::decode(bytes);
    REQUIRE_FALSE(message.has_value());
    CHECK(layout.error() == message.error());  // the same reason as decode()
    return static_cast<dns::WireError>(layout.error().value());
}

dns::Answer answer(const Reply& reply, const std::string& qname, std::uint16_t qtype, std::uint32_t& cache_ttl) {
    return answer_from_reply(reply, wire(qname), qtype, cache_ttl);
}

std::array<std::uint8_t, 4> a_of(const dns::Rdata& r) { return std::get<dns::rdata::A>(r).address; }

}  // namespace

TEST_CASE("owners that are compression pointers to the question are matched") {
    auto m = header(7, kResponse, 1, 2, 0, 0);
    m.name("www.example.com").u16(dns::A).u16(dns::IN);  // question at 12
    m.pointer(12).rr_fixed(dns::A, 300, 4).raw({192, 0, 2, 1});
    m.pointer(12).rr_fixed(dns::A, 200, 4).raw({192, 0, 2, 2});
    Reply reply = accepted(m.b);
    std::uint32_t cache_ttl = 0;
    auto got = answer(reply, "www.example.com.", dns::A, cache_ttl);
    CHECK(got.status == dns::DNS_OK);
    REQUIRE(got.rdata.size() == 2);
    CHECK(a_of(got.rdata[0]) == std::array<std::uint8_t, 4>{192, 0, 2, 1});
    CHECK(a_of(got.rdata[1]) == std::array<std::uint8_t, 4>{192, 0, 2, 2});
    CHECK(got.ttl == 200);
    CHECK(cache_ttl == 200);
    CHECK(got.cname.empty());
    CHECK(got.cname_chain.empty());
}

TEST_CASE("a CNAME chain written with pointers into earlier RDATA is followed to its addresses") {
    auto m = header(7, kResponse, 1, 3, 0, 0);
    m.name("www.example.com").u16(dns::A).u16(dns::IN);  // 12..32
    // www.example.com. CNAME edge.example.com. (RDATA: "edge" + pointer to
    // "example.com" inside the question, at 16).
    m.pointer(12).rr_fixed(dns::CNAME, 300, 7);
    const std::uint16_t edge = std::uint16_t(m.size());
    m.u8(4).raw({'e', 'd', 'g', 'e'}).pointer(16);
    // edge.example.com. CNAME host.edge.example.com. ("host" + pointer to edge).
    m.pointer(edge).rr_fixed(dns::CNAME, 100, 7);
    const std::uint16_t host = std::uint16_t(m.size());
    m.u8(4).raw({'h', 'o', 's', 't'}).pointer(edge);
    m.pointer(host).rr_fixed(dns::A, 250, 4).raw({198, 51, 100, 9});
    Reply reply = accepted(m.b);
    std::uint32_t cache_ttl = 0;
    auto got = answer(reply, "www.example.com.", dns::A, cache_ttl);
    CHECK(got.status == dns::DNS_OK);
    CHECK(got.cname == "host.edge.example.com.");
    CHECK(got.cname_chain == std::vector<std::string>{"www.example.com.", "edge.example.com."});
    REQUIRE(got.rdata.size() == 1);
    CHECK(a_of(got.rdata[0]) == std::array<std::uint8_t, 4>{198, 51, 100, 9});
    CHECK(got.ttl == 100);  // the smallest along the chain
    // The same answer decode() gives for these bytes, record by record.
    auto message = dns::decode(m.b);
    REQUIRE(message);
    CHECK(message->answers[2].name == "host.edge.example.com.");
    // Asking for the CNAME itself takes the record at the name, no chain.
    auto cname = answer(reply, "www.example.com.", dns::CNAME, cache_ttl);
    REQUIRE(cname.rdata.size() == 1);
    CHECK(std::get<dns::rdata::CNAME>(cname.rdata[0]).name == "edge.example.com.");
    CHECK(cname.cname_chain.empty());
}

TEST_CASE("records for other names, and addresses outside the answer section, are ignored") {
    auto m = header(7, kResponse, 1, 3, 0, 1);
    m.name("a.example").u16(dns::A).u16(dns::IN);  // 12
    m.name("b.example").rr_fixed(dns::A, 60, 4).raw({10, 0, 0, 2});  // another name
    m.u8(1).raw({'x'}).pointer(12).rr_fixed(dns::A, 60, 4).raw({10, 0, 0, 3});  // x.a.example: below, not equal
    m.pointer(12).rr_fixed(dns::AAAA, 60, 16).raw({0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    m.pointer(12).rr_fixed(dns::A, 60, 4).raw({10, 0, 0, 4});  // additional: not an answer
    Reply reply = accepted(m.b);
    std::uint32_t cache_ttl = 1;
    auto got = answer(reply, "a.example.", dns::A, cache_ttl);
    CHECK(got.status == dns::DNS_OK);
    CHECK(got.rdata.empty());  // NODATA for A: the AAAA is another type
    CHECK(cache_ttl == 0);     // no SOA: not cached
    auto v6 = answer(reply, "a.example.", dns::AAAA, cache_ttl);
    REQUIRE(v6.rdata.size() == 1);
    CHECK(std::holds_alternative<dns::rdata::AAAA>(v6.rdata[0]));
}

TEST_CASE("owner names match in any ASCII case (RFC 4343)") {
    auto m = header(7, kResponse, 1, 1, 0, 0);
    m.name("WwW.ExAmPle.COM").u16(dns::A).u16(dns::IN);
    m.name("www.EXAMPLE.com").rr_fixed(dns::A, 60, 4).raw({192, 0, 2, 5});
    Reply reply = accepted(m.b);
    std::uint32_t cache_ttl = 0;
    auto got = answer(reply, "www.example.com.", dns::A, cache_ttl);
    REQUIRE(got.rdata.size() == 1);
    CHECK(a_of(got.rdata[0]) == std::array<std::uint8_t, 4>{192, 0, 2, 5});
    const dns::Question q{"www.example.com.", dns::A, dns::IN};
    const WireName qname = wire(q.name);
    CHECK(reply_matches(m.b, reply.layout, Expected{7, &qname, q.type, q.klass}));
}

TEST_CASE("a reply matches only with its id, QR and exactly our question") {
    const dns::Question q{"q.example.", dns::A, dns::IN};
    const WireName qname = wire(q.name);
    auto with = [](std::uint16_t id, std::uint16_t flags, const std::string& name, std::uint16_t type) {
        auto m = header(id, flags, 1, 0, 0, 0);
        m.name(name).u16(type).u16(dns::IN);
        return m.b;
    };
    auto matches = [&](const Bytes& bytes) {
        auto layout = scan_reply(bytes);
        REQUIRE(layout);
        return reply_matches(bytes, *layout, Expected{9, &qname, q.type, q.klass});
    };
    CHECK(matches(with(9, kResponse, "q.example", dns::A)));
    CHECK_FALSE(matches(with(8, kResponse, "q.example", dns::A)));         // id
    CHECK_FALSE(matches(with(9, 0x0100, "q.example", dns::A)));            // a query, not a reply
    CHECK_FALSE(matches(with(9, kResponse, "r.example", dns::A)));         // name
    CHECK_FALSE(matches(with(9, kResponse, "q.example.org", dns::A)));     // longer name
    CHECK_FALSE(matches(with(9, kResponse, "q.example", dns::AAAA)));      // type
    // Two questions: never ours.
    auto two = header(9, kResponse, 2, 0, 0, 0);
    two.name("q.example").u16(dns::A).u16(dns::IN).pointer(12).u16(dns::A).u16(dns::IN);
    CHECK_FALSE(matches(two.b));
    // No question: only a failure status is taken (to move on), never NOERROR.
    CHECK(matches(header(9, 0x8181, 0, 0, 0, 0).b));   // FORMERR
    CHECK(matches(header(9, 0x8182, 0, 0, 0, 0).b));   // SERVFAIL
    CHECK_FALSE(matches(header(9, 0x8180, 0, 0, 0, 0).b));
    CHECK_FALSE(matches(header(9, 0x8183, 0, 0, 0, 0).b));  // NXDOMAIN proves nothing without a question
}

TEST_CASE("NXDOMAIN takes its negative TTL from an SOA above the name, reached through pointers") {
    auto m = header(7, 0x8183, 1, 0, 2, 0);
    m.name("gone.zone.example").u16(dns::A).u16(dns::IN);  // 12; "zone.example" at 17
    // An SOA for an unrelated zone first: says nothing about our name.
    m.name("other.example").rr_fixed(dns::SOA, 10, 2 + 2 + 20).pointer(12).pointer(12);
    m.u32(1).u32(2).u32(3).u32(4).u32(5);
    m.pointer(17).rr_fixed(dns::SOA, 900, 2 + 2 + 20).pointer(12).pointer(12);
    m.u32(1).u32(2).u32(3).u32(4).u32(600);
    Reply reply = accepted(m.b);
    std::uint32_t cache_ttl = 0;
    auto got = answer(reply, "gone.zone.example.", dns::A, cache_ttl);
    CHECK(got.status == dns::DNS_NAMEERROR);
    CHECK(got.ttl == 600);  // min(SOA TTL 900, MINIMUM 600)
    CHECK(cache_ttl == 600);
    // A name the zone does not hold gets no negative TTL from it.
    auto other = answer(reply, "gone.example.", dns::A, cache_ttl);
    CHECK(other.ttl == 0);
    CHECK(cache_ttl == 0);
}

TEST_CASE("a label holding a dot is one label: its zone is not the part after the dot") {
    // "a.b" is one label of "a\.b.example.": it lies in "example." but
    // not in "b.example." (a presentation-form suffix test would say yes).
    auto m = header(7, 0x8183, 1, 0, 1, 0);
    m.u8(3).raw({'a', '.', 'b'}).name("example").u16(dns::A).u16(dns::IN);
    m.name("b.example").rr_fixed(dns::SOA, 900, 2 + 2 + 20).pointer(12).pointer(12);
    m.u32(1).u32(2).u32(3).u32(4).u32(600);
    Reply reply = accepted(m.b);
    std::uint32_t cache_ttl = 1;
    auto got = answer(reply, "a\\.b.example.", dns::A, cache_ttl);
    CHECK(got.status == dns::DNS_NAMEERROR);
    CHECK(cache_ttl == 0);
}

TEST_CASE("malformed replies are rejected with the same WireError as decode()") {
    auto question = [](std::uint16_t an, std::uint16_t flags = kResponse) {
        auto m = header(7, flags, 1, an, 0, 0);
        m.name("x.example").u16(dns::A).u16(dns::IN);
        return m;
    };
    CHECK(rejected(Bytes{0x00, 0x07, 0x81}) == dns::WireError::truncated);  // header cut
    {
        auto m = question(1);
        m.pointer(12).rr_fixed(dns::A, 60, 5).raw({1, 2, 3, 4, 5});
        CHECK(rejected(m.b) == dns::WireError::rdata_length_mismatch);
    }
    {
        auto m = question(1);
        m.pointer(12).rr_fixed(dns::AAAA, 60, 4).raw({1, 2, 3, 4});
        CHECK(rejected(m.b) == dns::WireError::rdata_length_mismatch);
    }
    {
        auto m = question(1);  // an owner pointing forward, at itself
        m.pointer(std::uint16_t(m.size())).rr_fixed(dns::A, 60, 4).raw({1, 2, 3, 4});
        CHECK(rejected(m.b) == dns::WireError::bad_pointer);
    }
    {
        // A CNAME whose RDATA points back into itself: a loop.
        auto m = question(1);
        m.pointer(12).rr_fixed(dns::CNAME, 60, 4);
        const std::uint16_t at = std::uint16_t(m.size());
        m.u8(1).raw({'y'}).pointer(at);
        CHECK(rejected(m.b) == dns::WireError::pointer_loop);
    }
    {
        auto m = question(1);  // a CNAME's name runs past its RDLENGTH
        m.pointer(12).rr_fixed(dns::CNAME, 60, 2).u8(3).raw({'a', 'b', 'c'}).u8(0);
        CHECK(rejected(m.b) != dns::WireError::ok);
    }
    {
        auto m = question(1);  // an SOA with a field missing
        m.pointer(12).rr_fixed(dns::SOA, 60, 2 + 2 + 16).pointer(12).pointer(12).u32(1).u32(2).u32(3).u32(4);
        CHECK(rejected(m.b) == dns::WireError::rdata_length_mismatch);
    }
    {
        auto m = question(1);  // OPT in the answer section (RFC 6891 6.1.1)
        m.u8(0).rr_fixed(dns::OPT, 0, 0, 1232);
        CHECK(rejected(m.b) == dns::WireError::bad_edns);
    }
    {
        auto m = question(1);  // a record cut short, without TC
        m.pointer(12).rr_fixed(dns::A, 60, 4).raw({1, 2});
        CHECK(rejected(m.b) == dns::WireError::truncated);
    }
    {
        auto m = question(1);  // a label of 64 bytes
        m.u8(64);
        for (int i = 0; i < 64; ++i) m.u8('a');
        m.u8(0).rr_fixed(dns::A, 60, 4).raw({1, 2, 3, 4});
        CHECK(rejected(m.b) == dns::WireError::label_too_long);
    }
    {
        // A record of a type we only check through decode_rdata (MX with
        // its exchange cut): rejected like decode() does.
        auto m = question(1);
        m.pointer(12).rr_fixed(dns::MX, 60, 1).u8(0);
        CHECK(rejected(m.b) == dns::WireError::rdata_length_mismatch);
    }
}

TEST_CASE("a TC reply cut mid-record keeps the records that came whole") {
    auto m = header(7, kResponse | 0x0200, 1, 2, 0, 0);
    m.name("t.example").u16(dns::A).u16(dns::IN);
    m.pointer(12).rr_fixed(dns::A, 60, 4).raw({10, 1, 1, 1});
    m.pointer(12).rr_fixed(dns::A, 60, 4).raw({10, 1});  // cut
    Reply reply = accepted(m.b);
    CHECK(reply.layout.tc);
    CHECK(reply.layout.counts[0] == 1);
    CHECK(reply.layout.counts[1] == 1);
    std::uint32_t cache_ttl = 0;
    auto got = answer(reply, "t.example.", dns::A, cache_ttl);
    REQUIRE(got.rdata.size() == 1);
    CHECK(a_of(got.rdata[0]) == std::array<std::uint8_t, 4>{10, 1, 1, 1});
    auto message = dns::decode(m.b);
    REQUIRE(message);
    CHECK(message->answers.size() == 1);
}

TEST_CASE("the EDNS extended RCODE and the OPT record's presence are read") {
    auto m = header(7, 0x8180, 1, 0, 0, 1);
    m.name("e.example").u16(dns::A).u16(dns::IN);
    // OPT: root owner, payload 1232, extended RCODE 1 (BADVERS = 16), one option.
    m.u8(0).u16(dns::OPT).u16(1232).u32(0x01000000).u16(6).u16(10).u16(2).raw({0xAB, 0xCD});
    Reply reply = accepted(m.b);
    CHECK(reply.layout.edns);
    CHECK(reply.layout.rcode == 16);
    auto message = dns::decode(m.b);
    REQUIRE(message);
    CHECK(message->rcode == reply.layout.rcode);
    // A malformed option list is bad_edns for both.
    auto bad = header(7, 0x8180, 1, 0, 0, 1);
    bad.name("e.example").u16(dns::A).u16(dns::IN);
    bad.u8(0).u16(dns::OPT).u16(1232).u32(0).u16(3).u16(10).u8(0);
    CHECK(rejected(bad.b) == dns::WireError::bad_edns);
}

TEST_CASE("a reply past the inline size is held on the heap, and both kinds survive moves and copies") {
    for (int records : {2, 40}) {  // 2: inline; 40 x 16 bytes: past 512
        auto m = header(7, kResponse, 1, std::uint16_t(records), 0, 0);
        m.name("big.example").u16(dns::A).u16(dns::IN);
        for (int i = 0; i < records; ++i) m.pointer(12).rr_fixed(dns::A, 60, 4).raw({10, 0, 0, std::uint8_t(i)});
        CHECK((m.size() > dns::detail::MessageBytes::kInline) == (records == 40));
        Reply original = accepted(m.b);
        Reply copied = original;
        Reply moved = std::move(original);
        for (const Reply* reply : {&copied, &moved}) {
            CHECK(std::vector<std::uint8_t>(reply->wire().begin(), reply->wire().end()) == m.b);
            std::uint32_t cache_ttl = 0;
            auto got = answer(*reply, "big.example.", dns::A, cache_ttl);
            REQUIRE(got.rdata.size() == std::size_t(records));
            CHECK(a_of(got.rdata.back()) == std::array<std::uint8_t, 4>{10, 0, 0, std::uint8_t(records - 1)});
        }
    }
}
