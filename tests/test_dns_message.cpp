// DNS wire codec: types and statuses, the bounds-checked reader, encode and
// decode of messages, dig's presentation format. Fixtures under
// tests/fixtures/dns are real replies from dnsmasq (see capture.py there),
// each with the lines dig printed for the same query.
#include <doctest/doctest.h>

#include <pants/dns/detail/wire_reader.hpp>
#include <pants/dns/message.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace pants::dns;
using Bytes = std::vector<std::uint8_t>;

namespace {

std::filesystem::path fixture_dir() {
    // __FILE__ is relative to the build directory meson compiles and tests
    // in; the second path serves a run from the source root.
    const auto beside_source = std::filesystem::path(__FILE__).parent_path() / "fixtures" / "dns";
    if (std::filesystem::exists(beside_source)) return beside_source;
    return std::filesystem::path("tests") / "fixtures" / "dns";
}

Bytes read_fixture(const std::string& name) {
    std::ifstream in(fixture_dir() / (name + ".bin"), std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing fixture " << name);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> dig_lines(const std::string& name) {
    std::ifstream in(fixture_dir() / (name + ".dig"));
    REQUIRE_MESSAGE(in.good(), "missing fixture " << name);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

// "12 34 c0 0c" -> bytes; spaces are ignored, "'abc'" appends ASCII.
Bytes hex(std::string_view text) {
    Bytes out;
    for (std::size_t i = 0; i < text.size();) {
        if (text[i] == ' ') {
            ++i;
        } else if (text[i] == '\'') {
            const std::size_t end = text.find('\'', i + 1);
            for (std::size_t k = i + 1; k < end; ++k) out.push_back(static_cast<std::uint8_t>(text[k]));
            i = end + 1;
        } else {
            out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
            i += 2;
        }
    }
    return out;
}

Message decode_ok(const Bytes& bytes) {
    auto m = decode(bytes);
    REQUIRE_MESSAGE(m.has_value(), m.error().message());
    return *m;
}

std::error_code decode_error(const Bytes& bytes) {
    auto m = decode(bytes);
    REQUIRE_FALSE(m.has_value());
    return m.error();
}

std::vector<std::string> printed_records(const Message& m) {
    std::vector<std::string> lines;
    for (const auto* section : {&m.answers, &m.authority, &m.additional})
        for (const auto& rr : *section) lines.push_back(to_string(rr));
    return lines;
}

// A response header: id 0x1234, QR RD RA, then the four counts.
std::string header(int qd, int an, int ns = 0, int ar = 0) {
    char text[64];
    std::snprintf(text, sizeof text, "1234 8180 %04x %04x %04x %04x ", qd, an, ns, ar);
    return text;
}

}  // namespace

// --- types.hpp -------------------------------------------------------------

TEST_CASE("status codes have Pants' values and a pants.dns error category") {
    CHECK(DNS_TIMEOUT == -1);
    CHECK(DNS_OK == 0);
    CHECK(DNS_FORMATERROR == 1);
    CHECK(DNS_SERVERFAILURE == 2);
    CHECK(DNS_NAMEERROR == 3);
    CHECK(DNS_NOTIMPLEMENTED == 4);
    CHECK(DNS_REFUSED == 5);
    std::error_code ec = DNS_NAMEERROR;
    CHECK(ec.category() == category());
    CHECK(std::string(ec.category().name()) == "pants.dns");
    CHECK(ec.value() == 3);
    CHECK(ec.message() == "DNS name does not exist");
    CHECK(ec == DNS_NAMEERROR);
    CHECK_FALSE(std::error_code(DNS_OK));
    CHECK(std::error_code(DNS_TIMEOUT).message() == "DNS query timed out");
    CHECK(std::string(std::error_code(WireError::bad_pointer).category().name()) == "pants.dns.wire");
}

TEST_CASE("type names convert both ways as dig spells them") {
    CHECK(type_to_string(MX) == "MX");
    CHECK(type_to_string(15) == "MX");
    CHECK(type_to_string(NULL_) == "NULL");
    CHECK(type_to_string(CAA) == "CAA");
    CHECK(type_to_string(65280) == "TYPE65280");
    CHECK(type_from_string("MX") == std::optional<std::uint16_t>(15));
    CHECK(type_from_string("aaaa") == std::optional<std::uint16_t>(28));
    CHECK(type_from_string("TYPE65280") == std::optional<std::uint16_t>(65280));
    CHECK(type_from_string("type15") == std::optional<std::uint16_t>(15));
    CHECK(type_from_string("NULL") == std::optional<std::uint16_t>(10));
    CHECK_FALSE(type_from_string("BOGUS"));
    CHECK_FALSE(type_from_string("TYPE65536"));
    CHECK_FALSE(type_from_string("TYPE"));
    CHECK_FALSE(type_from_string("TYPE1x"));
    CHECK(class_to_string(IN) == "IN");
    CHECK(class_to_string(7) == "CLASS7");
    CHECK(class_from_string("in") == std::optional<std::uint16_t>(1));
    CHECK(class_from_string("CLASS7") == std::optional<std::uint16_t>(7));
    CHECK(rcode_to_string(3) == "NXDOMAIN");
    CHECK(rcode_to_string(16) == "BADVERS");
    CHECK(opcode_to_string(0) == "QUERY");
    // Pants' own numbering of the query types.
    CHECK(A == 1);
    CHECK(NSAP == 22);
    CHECK(AAAA == 28);
    CHECK(SRV == 33);
    CHECK(NAPTR == 35);
    CHECK(DNAME == 39);
    CHECK(OPT == 41);
    CHECK(DS == 43);
    CHECK(DNSKEY == 48);
    CHECK(ANY == 255);
    CHECK(CAA == 257);
}

// --- WireReader ------------------------------------------------------------

TEST_CASE("the wire reader reports truncation and consumes nothing on failure") {
    const Bytes b = hex("01 02 03");
    detail::WireReader r(b);
    std::uint16_t v16 = 0;
    std::uint32_t v32 = 0;
    CHECK(r.u16(v16) == WireError::ok);
    CHECK(v16 == 0x0102);
    CHECK(r.u32(v32) == WireError::truncated);
    CHECK(r.u16(v16) == WireError::truncated);
    CHECK(r.position() == 2);
    std::uint8_t v8 = 0;
    CHECK(r.u8(v8) == WireError::ok);
    CHECK(v8 == 3);
    CHECK(r.u8(v8) == WireError::truncated);
    CHECK(r.at_end());
}

TEST_CASE("a sub-reader bounds inline data but lets names point back into the message") {
    // "ab." at 0, then a 4-byte field holding "x" + pointer to 0.
    const Bytes b = hex("02 'ab' 00 01 'x' c0 00 ff");
    detail::WireReader r(b);
    CHECK(r.skip(4) == WireError::ok);
    detail::WireReader sub(std::span<const std::uint8_t>{});
    CHECK(r.sub(4, sub) == WireError::ok);
    std::string name;
    CHECK(sub.name(name) == WireError::ok);
    CHECK(name == "x.ab.");
    CHECK(sub.at_end());
    CHECK(r.remaining() == 1);
    detail::WireReader r2(b);
    CHECK(r2.skip(4) == WireError::ok);
    CHECK(r2.sub(3, sub) == WireError::ok);
    CHECK(sub.name(name) == WireError::truncated);  // the pointer lies past the sub-reader
    CHECK(r2.sub(3, sub) == WireError::truncated);
}

// --- encoding ----------------------------------------------------------------

TEST_CASE("encode_query builds a recursive query with an EDNS0 OPT record of 1232 bytes") {
    auto q = encode_query(0xBEEF, "example.com", AAAA);
    REQUIRE(q);
    CHECK(*q == hex("beef 0100 0001 0000 0000 0001 07 'example' 03 'com' 00 001c 0001 "
                    "00 0029 04d0 00000000 0000"));
    auto plain = encode_query(7, "example.com.", MX, false, 0);
    REQUIRE(plain);
    CHECK(*plain == hex("0007 0000 0001 0000 0000 0000 07 'example' 03 'com' 00 000f 0001"));
    auto m = decode_ok(*q);
    CHECK(m.id == 0xBEEF);
    CHECK(m.rd);
    CHECK_FALSE(m.qr);
    REQUIRE(m.edns);
    CHECK(m.edns->udp_size == 1232);
    REQUIRE(m.questions.size() == 1);
    CHECK(m.questions[0] == Question{"example.com.", AAAA, IN});
}

TEST_CASE("encode_query rejects names that cannot be encoded") {
    CHECK(encode_query(1, "a..b", A).error() == WireError::bad_name);
    CHECK(encode_query(1, "", A).error() == WireError::bad_name);
    CHECK(encode_query(1, std::string(64, 'a') + ".com", A).error() == WireError::label_too_long);
    std::string long_name;
    for (int i = 0; i < 4; ++i) long_name += std::string(63, 'a') + ".";
    CHECK(encode_query(1, long_name, A).error() == WireError::name_too_long);
    CHECK(encode_query(1, "bad\\2", A).error() == WireError::bad_name);
    CHECK(encode_query(1, "bad\\256", A).error() == WireError::bad_name);
    CHECK(encode_query(1, ".", NS).has_value());
}

Message every_type_message() {
    Message m;
    m.id = 4242;
    m.qr = m.aa = m.rd = m.ra = m.ad = true;
    m.rcode = 0;
    m.questions.push_back({"example.com.", ANY, IN});
    auto rr = [](std::string name, std::uint16_t type, Rdata data) {
        return ResourceRecord{std::move(name), type, IN, 300, std::move(data)};
    };
    m.answers = {
        rr("example.com.", A, rdata::A{{192, 0, 2, 1}}),
        rr("example.com.", AAAA, rdata::AAAA{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}),
        rr("example.com.", NS, rdata::NS{"ns1.example.com."}),
        rr("www.example.com.", CNAME, rdata::CNAME{"example.com."}),
        rr("old.example.com.", DNAME, rdata::DNAME{"new.example.net."}),
        rr("1.2.0.192.in-addr.arpa.", PTR, rdata::PTR{"example.com."}),
        rr("example.com.", MX, rdata::MX{10, "mail.example.com."}),
        rr("example.com.", SOA, rdata::SOA{"ns1.example.com.", "hostmaster.example.com.", 1, 2, 3, 4, 5}),
        rr("_sip._udp.example.com.", SRV, rdata::SRV{10, 20, 5060, "sip.example.com."}),
        rr("example.com.", TXT, rdata::TXT{{"v=spf1 -all", "", std::string("\0\xff\"", 3)}}),
        rr("example.com.", HINFO, rdata::HINFO{"PDP-11", "UNIX"}),
        rr("example.com.", MINFO, rdata::MINFO{"admin.example.com.", "errors.example.com."}),
        rr("example.com.", RP, rdata::RP{"hostmaster.example.com.", "."}),
        rr("example.com.", AFSDB, rdata::AFSDB{1, "afs.example.com."}),
        rr("example.com.", NAPTR, rdata::NAPTR{100, 10, "S", "SIP+D2U", "", "_sip._udp.example.com."}),
        rr("example.com.", CAA, rdata::CAA{128, "issue", "letsencrypt.org"}),
        rr("example.com.", DS, rdata::DS{60485, 8, 2, {1, 2, 3, 4}}),
        rr("example.com.", DNSKEY, rdata::DNSKEY{257, 3, 8, {5, 6, 7}}),
        rr("example.com.", 65280, rdata::Raw{{10, 0, 0, 1}}),
        rr("a\\.b.\\000\\255.example.com.", NULL_, rdata::Raw{}),
    };
    m.authority = {rr("example.com.", NS, rdata::NS{"ns2.example.com."})};
    m.additional = {rr("ns1.example.com.", A, rdata::A{{192, 0, 2, 53}})};
    m.edns = Edns{4096, 0, true, 0, {EdnsOption{10, {1, 2, 3, 4, 5, 6, 7, 8}}}};
    return m;
}

TEST_CASE("a message with every typed RDATA survives encode then decode unchanged") {
    const Message m = every_type_message();
    auto wire = encode(m);
    REQUIRE(wire);
    const Message back = decode_ok(*wire);
    CHECK(back == m);
    // And the bytes are stable: encoding the decoded message gives the same bytes.
    CHECK(encode(back).value() == *wire);
}

TEST_CASE("names are compressed against earlier names, case preserved") {
    Message m;
    m.questions.push_back({"Example.COM.", MX, IN});
    m.answers.push_back({"example.com.", MX, IN, 60, rdata::MX{5, "mail.Example.COM."}});
    auto wire = encode(m).value();
    // Question name at 12 (13 bytes), type/class; answer owner differs in
    // case so it is written whole; the MX exchange reuses the question's.
    CHECK(wire == hex("0000 0000 0001 0001 0000 0000 07 'Example' 03 'COM' 00 000f 0001 "
                      "07 'example' 03 'com' 00 000f 0001 0000003c 0009 0005 04 'mail' c00c"));
    CHECK(decode_ok(wire) == m);
}

TEST_CASE("encode rejects RDATA whose alternative does not match the record type") {
    Message m;
    m.answers.push_back({"example.com.", MX, IN, 60, rdata::A{{1, 2, 3, 4}}});
    CHECK(encode(m).error() == WireError::rdata_type_mismatch);
    m.answers[0].data = rdata::Raw{{0, 1, 0}};  // raw goes with any type
    CHECK(encode(m).has_value());
}

TEST_CASE("encode rejects character-strings over 255 bytes, empty TXT and empty CAA tags") {
    Message m;
    m.answers.push_back({"example.com.", TXT, IN, 60, rdata::TXT{{std::string(256, 'x')}}});
    CHECK(encode(m).error() == WireError::bad_rdata);
    m.answers[0].data = rdata::TXT{};
    CHECK(encode(m).error() == WireError::bad_rdata);
    m.answers[0] = {"example.com.", CAA, IN, 60, rdata::CAA{0, "", "x"}};
    CHECK(encode(m).error() == WireError::bad_rdata);
}

TEST_CASE("an extended rcode travels in the OPT record and needs EDNS") {
    Message m;
    m.qr = true;
    m.rcode = 16;  // BADVERS
    CHECK(encode(m).error() == WireError::bad_rcode);
    m.edns = Edns{};
    auto wire = encode(m).value();
    CHECK(wire == hex("0000 8000 0000 0000 0000 0001 00 0029 04d0 01000000 0000"));
    CHECK(decode_ok(wire).rcode == 16);
}

TEST_CASE("a message over 65535 bytes is refused") {
    Message m;
    for (int i = 0; i < 300; ++i)
        m.answers.push_back({"example.com.", TXT, IN, 60, rdata::TXT{{std::string(255, 'x')}}});
    CHECK(encode(m).error() == WireError::message_too_long);
}

// --- real replies from dnsmasq -----------------------------------------------

TEST_CASE("every captured dnsmasq reply decodes and prints exactly as dig printed it") {
    for (const char* name : {"a", "aaaa", "afsdb", "caa", "cname", "dname", "dnskey", "ds", "hinfo", "minfo", "mx",
                             "naptr", "ns", "nxdomain", "odd_ptr", "odd_txt", "ptr", "rp", "soa", "srv", "txt",
                             "unknown", "unknown_long"}) {
        CAPTURE(name);
        const Bytes wire = read_fixture(name);
        const Message m = decode_ok(wire);
        CHECK(m.qr);
        CHECK(m.aa);
        CHECK(m.rd);
        CHECK_FALSE(m.ra);
        REQUIRE(m.edns);
        CHECK(m.edns->udp_size == 1232);
        CHECK(m.questions.size() == 1);
        CHECK(printed_records(m) == dig_lines(name));
        // Re-encoding keeps every field.
        CHECK(decode_ok(encode(m).value()) == m);
    }
}

TEST_CASE("the A reply from dnsmasq has the address dig printed") {
    const Message m = decode_ok(read_fixture("a"));
    CHECK(m.id == 0x5002);
    CHECK(m.rcode == DNS_OK);
    CHECK(m.questions[0] == Question{"host.test.", A, IN});
    REQUIRE(m.answers.size() == 1);
    CHECK(m.answers[0].name == "host.test.");
    CHECK(m.answers[0].ttl == 600);
    CHECK(std::get<rdata::A>(m.answers[0].data).address == std::array<std::uint8_t, 4>{192, 0, 2, 10});
    REQUIRE(m.authority.size() == 1);
    CHECK(std::get<rdata::NS>(m.authority[0].data).name == "ns.test.");
}

TEST_CASE("the AAAA and PTR replies from dnsmasq carry host.test's records") {
    const Message aaaa = decode_ok(read_fixture("aaaa"));
    CHECK(to_string(aaaa.answers.at(0).data) == "2001:db8::10");
    const Message ptr = decode_ok(read_fixture("ptr"));
    CHECK(ptr.answers.at(0).name == "10.2.0.192.in-addr.arpa.");
    CHECK(std::get<rdata::PTR>(ptr.answers.at(0).data).name == "host.test.");
}

TEST_CASE("the CNAME reply from dnsmasq follows a pointer into the CNAME's RDATA") {
    const Message m = decode_ok(read_fixture("cname"));
    REQUIRE(m.answers.size() == 2);
    CHECK(m.answers[0].type == CNAME);
    CHECK(std::get<rdata::CNAME>(m.answers[0].data).name == "host.test.");
    CHECK(m.answers[1].name == "host.test.");  // encoded as a pointer to the RDATA above
    CHECK(std::get<rdata::A>(m.answers[1].data).address == std::array<std::uint8_t, 4>{192, 0, 2, 10});
}

TEST_CASE("the SOA, MX, SRV, TXT and NAPTR replies from dnsmasq have dig's fields") {
    const auto soa = std::get<rdata::SOA>(decode_ok(read_fixture("soa")).answers.at(0).data);
    CHECK(soa == rdata::SOA{"ns.test.", "hostmaster.test.", 2024010101, 3600, 600, 86400, 600});
    const auto mx = std::get<rdata::MX>(decode_ok(read_fixture("mx")).answers.at(0).data);
    CHECK(mx == rdata::MX{10, "mail.test."});
    const auto srv = std::get<rdata::SRV>(decode_ok(read_fixture("srv")).answers.at(0).data);
    CHECK(srv == rdata::SRV{10, 5, 5060, "sip.test."});
    const auto txt = std::get<rdata::TXT>(decode_ok(read_fixture("txt")).answers.at(0).data);
    CHECK(txt.strings == std::vector<std::string>{"v=spf1 -all", "second"});
    const auto odd = std::get<rdata::TXT>(decode_ok(read_fixture("odd_txt")).answers.at(0).data);
    CHECK(odd.strings == std::vector<std::string>{std::string("\"\\\0\xff;A B", 8)});
    const auto naptr = std::get<rdata::NAPTR>(decode_ok(read_fixture("naptr")).answers.at(0).data);
    CHECK(naptr == rdata::NAPTR{100, 10, "S", "SIP+D2U", "", "_sip._udp.test."});
    const auto caa = std::get<rdata::CAA>(decode_ok(read_fixture("caa")).answers.at(0).data);
    CHECK(caa == rdata::CAA{0, "issue", "letsencrypt.org"});
}

TEST_CASE("the NXDOMAIN reply from dnsmasq has rcode 3 and the zone's SOA in authority") {
    const Message m = decode_ok(read_fixture("nxdomain"));
    CHECK(m.rcode == DNS_NAMEERROR);
    CHECK(m.answers.empty());
    REQUIRE(m.authority.size() == 1);
    CHECK(m.authority[0].type == SOA);
    CHECK(to_string(m) .find("status: NXDOMAIN") != std::string::npos);
}

TEST_CASE("a truncated reply from dnsmasq decodes with TC set and no records") {
    const Message m = decode_ok(read_fixture("tc_big_txt"));
    CHECK(m.tc);
    CHECK_FALSE(m.edns);
    CHECK(m.questions.at(0) == Question{"big.test.", TXT, IN});
    CHECK(m.answers.empty());
}

TEST_CASE("a label holding a dot and odd bytes prints escaped and encodes back to the same bytes") {
    const Message m = decode_ok(read_fixture("odd_ptr"));
    const auto& target = std::get<rdata::PTR>(m.answers.at(0).data).name;
    CHECK(target == "a\\.b.sp\\032ace.\\001\\@\\$.q\\\"\\(.test.");
    Message only;
    only.answers.push_back(m.answers[0]);
    const Bytes wire = encode(only).value();
    const Bytes labels = hex("03 612e62 06 737020616365 03 014024 03 712228");
    CHECK(std::search(wire.begin(), wire.end(), labels.begin(), labels.end()) != wire.end());
}

// --- compression -------------------------------------------------------------

TEST_CASE("compression pointers to pointers, into RDATA and into the middle of a name are followed") {
    const Bytes wire = hex(header(1, 4) +
                           "07 'example' 03 'com' 00 0001 0001 "                  // 12: question example.com.
                           "03 'www' c00c 0005 0001 0000012c 0007 04 'mail' c00c " // 29: CNAME, RDATA at 45
                           "c02d 0001 0001 0000012c 0004 c0000201 "               // 52: pointer into RDATA
                           "c034 0001 0001 0000012c 0004 c0000202 "               // 68: pointer to a pointer
                           "c014 000f 0001 0000012c 0004 000a c01d");             // 84: middle of a name
    const Message m = decode_ok(wire);
    REQUIRE(m.answers.size() == 4);
    CHECK(m.answers[0].name == "www.example.com.");
    CHECK(std::get<rdata::CNAME>(m.answers[0].data).name == "mail.example.com.");
    CHECK(m.answers[1].name == "mail.example.com.");
    CHECK(m.answers[2].name == "mail.example.com.");
    CHECK(m.answers[3].name == "com.");
    CHECK(std::get<rdata::MX>(m.answers[3].data) == rdata::MX{10, "www.example.com."});
    CHECK(to_string(m.answers[3]) == "com.\t\t\t300\tIN\tMX\t10 www.example.com.");
}

TEST_CASE("names in the RDATA of NS, SOA, PTR, SRV, MINFO, RP, AFSDB, DNAME and NAPTR follow pointers") {
    // example.com. at 12; each record's names point at it.
    const std::string owner = "c00c ";
    const Bytes wire = hex(header(1, 9) + "07 'example' 03 'com' 00 00ff 0001 " +
                           owner + "0002 0001 00000001 0005 02 'ns' c00c " +
                           owner + "0006 0001 00000001 001a c00c 01 'h' c00c 00000001 00000002 00000003 00000004 "
                                   "00000005 " +
                           owner + "000c 0001 00000001 0002 c00c " +
                           owner + "0021 0001 00000001 0008 0001 0002 0003 c00c " +
                           owner + "000e 0001 00000001 0004 c00c c00c " +
                           owner + "0011 0001 00000001 0004 c00c c00c " +
                           owner + "0012 0001 00000001 0004 0001 c00c " +
                           owner + "0027 0001 00000001 0002 c00c " +
                           owner + "0023 0001 00000001 0009 0001 0002 00 00 00 c00c");
    const Message m = decode_ok(wire);
    std::vector<std::string> rdata;
    for (const auto& rr : m.answers) rdata.push_back(to_string(rr.data));
    CHECK(rdata == std::vector<std::string>{
                       "ns.example.com.",
                       "example.com. h.example.com. 1 2 3 4 5",
                       "example.com.",
                       "1 2 3 example.com.",
                       "example.com. example.com.",
                       "example.com. example.com.",
                       "1 example.com.",
                       "example.com.",
                       "1 2 \"\" \"\" \"\" example.com.",
                   });
}

// --- malformed input ---------------------------------------------------------

TEST_CASE("a pointer to itself is rejected") {
    CHECK(decode_error(hex(header(1, 0) + "c00c 0001 0001")) == WireError::bad_pointer);
}

TEST_CASE("a pointer forward is rejected") {
    CHECK(decode_error(hex(header(1, 0) + "c00e 01 'a' 00 0001 0001")) == WireError::bad_pointer);
}

TEST_CASE("a pointer past the end of the message is rejected") {
    CHECK(decode_error(hex(header(1, 0) + "ffff 0001 0001")) == WireError::bad_pointer);
}

TEST_CASE("a pointer back to the start of its own name is rejected as a loop") {
    CHECK(decode_error(hex(header(1, 0) + "01 'a' c00c 0001 0001")) == WireError::pointer_loop);
}

TEST_CASE("a loop of backward pointers through bytes the name already visited is rejected") {
    // 12: a record of unknown type whose RDATA (at 23) is "a" + pointer to 23;
    // 27: an owner pointing at 23. Each pointer goes backwards, yet they cycle.
    CHECK(decode_error(hex(header(0, 2) + "00 ff00 0001 0000003c 0004 01 'a' c017 "
                                          "c017 0001 0001 0000003c 0004 c0000201")) == WireError::pointer_loop);
}

TEST_CASE("a loop through two pointers is rejected because one of them points forward") {
    // 12: pointer to 14; 14: pointer to 12.
    CHECK(decode_error(hex(header(1, 0) + "c00e c00c 0001 0001")) == WireError::bad_pointer);
}

TEST_CASE("a label length over 63 is rejected") {
    CHECK(decode_error(hex(header(1, 0) + "40 " + std::string(128, 'a') + " 00 0001 0001")) ==
          WireError::label_too_long);
    CHECK(decode_error(hex(header(1, 0) + "80 00 0001 0001")) == WireError::label_too_long);
}

TEST_CASE("a name over 255 bytes is rejected, also when built from pointers") {
    std::string labels;
    for (int i = 0; i < 4; ++i) labels += "3f " + std::string(126, 'a') + " ";
    CHECK(decode_error(hex(header(1, 0) + labels + "00 0001 0001")) == WireError::name_too_long);
    // 12: 3 x 63-byte labels (193 bytes, legal); then a name of 63 bytes + pointer to it.
    std::string three;
    for (int i = 0; i < 3; ++i) three += "3f " + std::string(126, 'b') + " ";
    CHECK(decode_error(hex(header(2, 0) + three + "00 0001 0001 3f " + std::string(126, 'c') +
                           " c00c 0001 0001")) == WireError::name_too_long);
}

TEST_CASE("a name cut off mid-label is rejected") {
    CHECK(decode_error(hex(header(1, 0) + "05 'ab'")) == WireError::truncated);
    CHECK(decode_error(hex(header(1, 0) + "c0")) == WireError::truncated);
}

TEST_CASE("a header shorter than 12 bytes is rejected") {
    CHECK(decode_error(Bytes{}) == WireError::truncated);
    CHECK(decode_error(hex("1234 8180 0000 0000 0000 00")) == WireError::truncated);
}

TEST_CASE("counts larger than the records present are rejected") {
    CHECK(decode_error(hex(header(2, 0) + "00 0001 0001")) == WireError::truncated);
    CHECK(decode_error(hex(header(1, 1) + "00 0001 0001")) == WireError::truncated);
    CHECK(decode_error(hex(header(0, 0, 0, 0xffff))) == WireError::truncated);
    CHECK(decode_error(hex(header(0xffff, 0xffff, 0xffff, 0xffff) + "00 0001 0001")) == WireError::truncated);
}

TEST_CASE("RDATA running past the end of the message is rejected") {
    CHECK(decode_error(hex(header(0, 1) + "00 0001 0001 0000003c 0004 c000")) == WireError::truncated);
}

TEST_CASE("an RDLENGTH longer than the parsed RDATA is rejected") {
    CHECK(decode_error(hex(header(0, 1) + "00 0001 0001 0000003c 0005 c0000201 00")) ==
          WireError::rdata_length_mismatch);
    CHECK(decode_error(hex(header(0, 1) + "00 000f 0001 0000003c 0005 000a 00 ffff")) ==
          WireError::rdata_length_mismatch);
}

TEST_CASE("an RDLENGTH shorter than the parsed RDATA is rejected") {
    CHECK(decode_error(hex(header(0, 1) + "00 0001 0001 0000003c 0003 c00002 01")) ==
          WireError::rdata_length_mismatch);
    // The MX exchange "mx." needs 4 bytes but RDLENGTH leaves it 2.
    CHECK(decode_error(hex(header(0, 1) + "00 000f 0001 0000003c 0004 000a 02 'mx' 00")) ==
          WireError::rdata_length_mismatch);
    // SOA missing its last field.
    CHECK(decode_error(hex(header(0, 1) + "00 0006 0001 0000003c 0012 00 00 00000001 00000002 00000003 00000004")) ==
          WireError::rdata_length_mismatch);
}

TEST_CASE("empty TXT RDATA and a CAA record without a tag are rejected") {
    CHECK(decode_error(hex(header(0, 1) + "00 0010 0001 0000003c 0000")) == WireError::bad_rdata);
    CHECK(decode_error(hex(header(0, 1) + "00 0101 0001 0000003c 0002 00 00")) == WireError::bad_rdata);
}

TEST_CASE("a second OPT record, an OPT outside additional and an OPT not owned by the root are rejected") {
    const std::string opt = "00 0029 04d0 00000000 0000 ";
    CHECK(decode_error(hex(header(0, 0, 0, 2) + opt + opt)) == WireError::bad_edns);
    CHECK(decode_error(hex(header(0, 1, 0, 0) + opt)) == WireError::bad_edns);
    CHECK(decode_error(hex(header(0, 0, 0, 1) + "01 'a' 00 0029 04d0 00000000 0000")) == WireError::bad_edns);
    CHECK(decode_error(hex(header(0, 0, 0, 1) + "00 0029 04d0 00000000 0003 000a 00")) == WireError::bad_edns);
}

TEST_CASE("a reply with TC set keeps the records that arrived whole") {
    // ANCOUNT 2, the second record is cut off: fine with TC, malformed without.
    const std::string body = "00 0001 0001 0000003c 0004 c0000201 00 0001 0001 0000";
    const Message m = decode_ok(hex("1234 8380 0000 0002 0000 0000 " + body));
    CHECK(m.tc);
    REQUIRE(m.answers.size() == 1);
    CHECK(to_string(m.answers[0].data) == "192.0.2.1");
    CHECK(decode_error(hex(header(0, 2) + body)) == WireError::truncated);
}

TEST_CASE("A records outside class IN keep their bytes") {
    const Message m = decode_ok(hex(header(0, 1) + "00 0001 0003 0000003c 0002 0102"));
    CHECK(std::get<rdata::Raw>(m.answers.at(0).data).bytes == Bytes{1, 2});
    CHECK(to_string(m.answers[0]) == ".\t\t\t60\tCH\tA\t\\# 2 0102");
}

TEST_CASE("bytes after the last record are ignored") {
    const Message m = decode_ok(hex(header(1, 0) + "00 0001 0001 dead"));
    CHECK(m.questions.size() == 1);
}

// --- presentation --------------------------------------------------------------

TEST_CASE("records print in dig's tab columns, with one blank where a field reaches the next column") {
    CHECK(to_string(ResourceRecord{"example.com.", MX, IN, 300, rdata::MX{10, "mail.example.com."}}) ==
          "example.com.\t\t300\tIN\tMX\t10 mail.example.com.");
    CHECK(to_string(ResourceRecord{"a-rather-long-name.example.com.", A, IN, 86400, rdata::A{{1, 2, 3, 4}}}) ==
          "a-rather-long-name.example.com.\t86400 IN A\t1.2.3.4");
    CHECK(to_string(ResourceRecord{"x.", 65280, IN, 0, rdata::Raw{{10, 0, 0, 1}}}) ==
          "x.\t\t\t0\tIN\tTYPE65280 \\# 4 0A000001");
    CHECK(to_string(Rdata{rdata::Raw{}}) == "\\# 0");
    CHECK(to_string(Question{"example.com.", MX, IN}) == ";example.com.\t\t\tIN\tMX");
}

TEST_CASE("a whole message prints like dig's reply") {
    Message m;
    m.id = 7;
    m.qr = m.rd = m.ra = true;
    m.questions.push_back({"example.com.", A, IN});
    m.answers.push_back({"example.com.", A, IN, 60, rdata::A{{192, 0, 2, 1}}});
    m.edns = Edns{};
    CHECK(to_string(m) ==
          ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 7\n"
          ";; flags: qr rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1\n"
          "\n;; OPT PSEUDOSECTION:\n; EDNS: version: 0, flags:; udp: 1232\n"
          "\n;; QUESTION SECTION:\n;example.com.\t\t\tIN\tA\n"
          "\n;; ANSWER SECTION:\nexample.com.\t\t60\tIN\tA\t192.0.2.1\n");
}

// --- names -----------------------------------------------------------------------

TEST_CASE("names compare case-insensitively with escapes resolved") {
    CHECK(name_equal("Example.COM", "example.com."));
    CHECK(name_equal("\\065.b.", "a.B"));
    CHECK_FALSE(name_equal("a\\.b.", "a.b."));
    CHECK_FALSE(name_equal("example.com.", "example.org."));
    CHECK_FALSE(name_equal("a..b", "a..b"));
    CHECK(normalize_name("Example.COM").value() == "Example.COM.");
    CHECK(normalize_name("\\065\\.x").value() == "A\\.x.");
    CHECK(normalize_name(".").value() == ".");
    CHECK(normalize_name("a..").error() == WireError::bad_name);
}

TEST_CASE("reverse names follow in-addr.arpa and ip6.arpa") {
    CHECK(reverse_name(std::array<std::uint8_t, 4>{192, 0, 2, 10}) == "10.2.0.192.in-addr.arpa.");
    std::array<std::uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8};
    v6[15] = 0x1f;
    CHECK(reverse_name(v6) == "f.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
}

// Issue 14: encode_query writes its bytes directly (no Message, no
// compression table); they must stay exactly what encode() makes.
TEST_CASE("encode_query gives the bytes encode() gives for the same one-question message") {
    const std::string long_label(63, 'x');
    const std::vector<std::string> names = {
        "example.com", "Example.COM.", ".", "a", "a.b.c.d.e.f.", "\\065\\.x.y", "sp\\032ace.\\\\.",
        long_label + "." + long_label + ".", "q123.uring.bench.test."};
    for (const auto& name : names) {
        for (std::uint16_t edns : {std::uint16_t(0), std::uint16_t(1232), std::uint16_t(65000)}) {
            for (bool rd : {true, false}) {
                CAPTURE(name);
                CAPTURE(edns);
                Message m;
                m.id = 0x1234;
                m.rd = rd;
                m.questions.push_back(Question{name, AAAA, CH});
                if (edns != 0) m.edns = Edns{edns, 0, false, 0, {}};
                const auto direct = encode_query(0x1234, name, AAAA, rd, edns, CH);
                const auto general = encode(m);
                REQUIRE(direct.has_value());
                REQUIRE(general.has_value());
                CHECK(*direct == *general);
            }
        }
    }
    // Errors are the same too, whichever comes first in the name.
    for (const std::string& bad : {std::string(64, 'a') + "..", std::string("a..") + std::string(64, 'a'),
                                  std::string(300, 'a'), std::string(130 * 2, '.')}) {
        Message m;
        m.questions.push_back(Question{bad, A, IN});
        CHECK(encode_query(1, bad, A).error() == encode(m).error());
    }
}

TEST_CASE("names of 255 wire bytes are the limit, labels of 63") {
    // 4 labels of 63 + 3 length bytes... : 4 * 64 + 1 = 257 > 255.
    const std::string l63(63, 'a');
    CHECK(encode_query(1, l63 + "." + l63 + "." + l63 + "." + l63, A).error() == WireError::name_too_long);
    // 3 * 64 + 62 ("a" * 61) + 1 = 255: the longest name there is.
    const std::string longest = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
    auto q = encode_query(1, longest, A, true, 0);
    REQUIRE(q.has_value());
    CHECK(q->size() == 12 + 255 + 4);
    CHECK(name_equal(longest, longest + "."));
    CHECK(normalize_name(longest).value() == longest + ".");
    CHECK(encode_query(1, longest + "b", A).error() == WireError::name_too_long);
    CHECK(encode_query(1, l63 + "a\\.", A).error() == WireError::label_too_long);
    CHECK_FALSE(name_equal("ab.c", "a.bc"));
    CHECK(name_equal("A\\066.c", "ab.C"));
}
