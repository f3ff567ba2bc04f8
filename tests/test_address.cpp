// Tests for pants::Address: parsing, printing, sockaddr round trips,
// equality and hashing.
#include <pants/address.hpp>

#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <sstream>
#include <string>
#include <unordered_set>

#include <doctest/doctest.h>

using pants::Address;

namespace {

// parse(text), which must succeed.
Address parsed(std::string_view text) {
    auto a = Address::parse(text);
    REQUIRE_MESSAGE(a.has_value(), text);
    return *a;
}

std::error_code parse_error(std::string_view text) {
    auto a = Address::parse(text);
    REQUIRE_MESSAGE(!a.has_value(), text);
    return a.error();
}

const std::error_code invalid = std::make_error_code(std::errc::invalid_argument);

}  // namespace

TEST_SUITE("address") {

TEST_CASE("an IPv4 address parses and prints back the same text") {
    Address a = parsed("127.0.0.1:80");
    CHECK(a.is_ipv4());
    CHECK(a.family() == AF_INET);
    CHECK(a.port() == 80);
    CHECK(a.host() == "127.0.0.1");
    CHECK(a.to_string() == "127.0.0.1:80");
    CHECK(a.size() == sizeof(sockaddr_in));
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a.data());
    CHECK(sin->sin_port == htons(80));
    CHECK(sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
}

TEST_CASE("an IPv6 address in brackets parses and prints back the same text") {
    Address a = parsed("[::1]:80");
    CHECK(a.is_ipv6());
    CHECK(a.port() == 80);
    CHECK(a.host() == "::1");
    CHECK(a.to_string() == "[::1]:80");
    CHECK(a.size() == sizeof(sockaddr_in6));
    CHECK(parsed("[2001:db8::a:b]:65535").to_string() == "[2001:db8::a:b]:65535");
    CHECK(parsed("[::ffff:1.2.3.4]:7").to_string() == "[::ffff:1.2.3.4]:7");
}

TEST_CASE("an IPv6 scope is read by interface name or number and printed by name") {
    unsigned lo = if_nametoindex("lo");
    REQUIRE(lo != 0);
    Address a = parsed("[fe80::1%lo]:80");
    CHECK(reinterpret_cast<const sockaddr_in6*>(a.data())->sin6_scope_id == lo);
    CHECK(a.host() == "fe80::1%lo");
    CHECK(a.to_string() == "[fe80::1%lo]:80");
    Address b = parsed("[fe80::1%" + std::to_string(lo) + "]:80");
    CHECK(b == a);
    CHECK(b.to_string() == "[fe80::1%lo]:80");
    // An index with no interface prints as a number.
    CHECK(parsed("[fe80::1%4000000]:1").to_string() == "[fe80::1%4000000]:1");
}

TEST_CASE("an unknown interface name is no_such_device") {
    CHECK(parse_error("[fe80::1%nosuchif0]:80") == std::errc::no_such_device);
    CHECK(parse_error("[fe80::1%]:80") == invalid);
}

TEST_CASE("a Unix path parses and prints back the same text") {
    Address a = parsed("/tmp/x.sock");
    CHECK(a.is_unix());
    CHECK(a.port() == 0);
    CHECK(a.host() == "/tmp/x.sock");
    CHECK(a.to_string() == "/tmp/x.sock");
    const auto* sun = reinterpret_cast<const sockaddr_un*>(a.data());
    CHECK(std::string(sun->sun_path) == "/tmp/x.sock");
    CHECK(a.size() == offsetof(sockaddr_un, sun_path) + std::strlen("/tmp/x.sock") + 1);
    CHECK(parsed("./rel.sock").to_string() == "./rel.sock");
    CHECK(parsed("../up.sock").to_string() == "../up.sock");
}

TEST_CASE("an abstract Unix name is written with @ and stored with a leading NUL") {
    Address a = parsed("@abstract");
    CHECK(a.is_unix());
    CHECK(a.to_string() == "@abstract");
    CHECK(a.host() == "@abstract");
    const auto* sun = reinterpret_cast<const sockaddr_un*>(a.data());
    CHECK(sun->sun_path[0] == '\0');
    CHECK(std::string_view(sun->sun_path + 1, 8) == "abstract");
    // No trailing NUL: the length says where the name ends.
    CHECK(a.size() == offsetof(sockaddr_un, sun_path) + 1 + 8);
    CHECK(a != parsed("/abstract"));
}

TEST_CASE("unix_path accepts the same forms as parse") {
    CHECK(*Address::unix_path("/run/x.sock") == parsed("/run/x.sock"));
    CHECK(*Address::unix_path("@n") == parsed("@n"));
    // unix_path takes any path, even one parse would read as something else.
    CHECK(Address::unix_path("relative.sock")->to_string() == "relative.sock");
}

TEST_CASE("a Unix path longer than sun_path is filename_too_long") {
    constexpr std::size_t max = sizeof(sockaddr_un::sun_path);
    std::string fits = "/" + std::string(max - 2, 'a');  // max - 1 bytes + NUL
    CHECK(parsed(fits).to_string() == fits);
    CHECK(parse_error(fits + "a") == std::errc::filename_too_long);
    std::string abstract_fits = "@" + std::string(max - 1, 'b');
    CHECK(parsed(abstract_fits).to_string() == abstract_fits);
    CHECK(parse_error(abstract_fits + "b") == std::errc::filename_too_long);
    CHECK(Address::unix_path(fits + "a").error() == std::errc::filename_too_long);
}

TEST_CASE("malformed text is invalid_argument") {
    CHECK(parse_error("") == invalid);
    CHECK(parse_error("1.2.3.4") == invalid);         // no port
    CHECK(parse_error("::1") == invalid);             // no port, no brackets
    CHECK(parse_error("[::1") == invalid);            // no closing bracket
    CHECK(parse_error("[::1]") == invalid);           // no port
    CHECK(parse_error("[::1]:") == invalid);          // empty port
    CHECK(parse_error("[::1]80") == invalid);         // no colon
    CHECK(parse_error("1.2.3.4:99999") == invalid);   // port out of range
    CHECK(parse_error("1.2.3.4:65536") == invalid);
    CHECK(parse_error("1.2.3.4:-1") == invalid);
    CHECK(parse_error("1.2.3.4:+80") == invalid);
    CHECK(parse_error("1.2.3.4:8 0") == invalid);
    CHECK(parse_error("1.2.3.4:") == invalid);
    CHECK(parse_error("::1:80") == invalid);          // IPv6 needs brackets
    CHECK(parse_error("1.2.3:80") == invalid);        // not a dotted quad
    CHECK(parse_error("1.2.3.256:80") == invalid);
    CHECK(parse_error("01.2.3.4:80") == invalid);      // no octal-looking octets
    CHECK(parse_error("0x7f.0.0.1:80") == invalid);
    CHECK(parse_error("localhost:80") == invalid);    // names are not resolved
    CHECK(parse_error("[1.2.3.4]:80") == invalid);    // brackets hold IPv6 only
    CHECK(parse_error(":80") == invalid);
    CHECK(parse_error("@") == invalid);
    CHECK(parse_error(std::string_view("/a\0b", 4)) == invalid);
}

TEST_CASE("from_ip takes an IP literal without brackets") {
    CHECK(Address::from_ip("10.1.2.3", 8080)->to_string() == "10.1.2.3:8080");
    CHECK(Address::from_ip("::1", 53)->to_string() == "[::1]:53");
    CHECK(Address::from_ip("fe80::2%lo", 1)->to_string() == "[fe80::2%lo]:1");
    CHECK(Address::from_ip("[::1]", 53).error() == invalid);
    CHECK(Address::from_ip("1.2.3.4%lo", 53).error() == invalid);
    CHECK(Address::from_ip("example.com", 53).error() == invalid);
    CHECK(Address::from_ip("", 53).error() == invalid);
}

TEST_CASE("the well-known addresses print as expected") {
    CHECK(Address::ipv4_any(80).to_string() == "0.0.0.0:80");
    CHECK(Address::ipv6_any(80).to_string() == "[::]:80");
    CHECK(Address::loopback_v4(1).to_string() == "127.0.0.1:1");
    CHECK(Address::loopback_v6(2).to_string() == "[::1]:2");
}

TEST_CASE("port 0 parses and prints") {
    Address a = parsed("127.0.0.1:0");
    CHECK(a.port() == 0);
    CHECK(a.to_string() == "127.0.0.1:0");
    CHECK(parsed("[::]:0").to_string() == "[::]:0");
}

TEST_CASE("set_port changes the port of IP addresses only") {
    Address a = parsed("127.0.0.1:0");
    a.set_port(4000);
    CHECK(a.to_string() == "127.0.0.1:4000");
    Address b = parsed("[::1]:0");
    b.set_port(65535);
    CHECK(b.to_string() == "[::1]:65535");
    Address u = parsed("/x");
    u.set_port(4);
    CHECK(u.port() == 0);
    CHECK(u == parsed("/x"));
}

TEST_CASE("an empty Address has no family and prints as nothing") {
    Address a;
    CHECK(a.family() == AF_UNSPEC);
    CHECK(a.size() == 0);
    CHECK(a.port() == 0);
    CHECK(a.to_string().empty());
    CHECK(a == Address());
    CHECK(Address::capacity() == sizeof(sockaddr_storage));
}

TEST_CASE("from_sockaddr copies what accept or recvfrom filled") {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(443);
    sin6.sin6_addr = in6addr_loopback;
    Address a = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&sin6), sizeof sin6);
    CHECK(a == Address::loopback_v6(443));
    CHECK(a.to_string() == "[::1]:443");

    // Filling data() in place, as recvfrom does, then set_size.
    Address b;
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(9);
    sin.sin_addr.s_addr = htonl(0x0a000001);
    std::memcpy(b.data(), &sin, sizeof sin);
    b.set_size(sizeof sin);
    CHECK(b.to_string() == "10.0.0.1:9");

    b.set_size(100000);
    CHECK(b.size() == Address::capacity());
    CHECK(Address::from_sockaddr(nullptr, 16).family() == AF_UNSPEC);
}

TEST_CASE("a Unix address compares equal whether or not the kernel counted the NUL") {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strcpy(sun.sun_path, "/tmp/s");
    auto without = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&sun),
                                          offsetof(sockaddr_un, sun_path) + 6);
    auto with = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&sun),
                                       offsetof(sockaddr_un, sun_path) + 7);
    auto whole = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&sun), sizeof sun);
    CHECK(without.to_string() == "/tmp/s");
    CHECK(without == with);
    CHECK(with == whole);
    CHECK(whole == parsed("/tmp/s"));
    CHECK(std::hash<Address>{}(without) == std::hash<Address>{}(whole));
}

TEST_CASE("an unnamed Unix socket address prints as nothing") {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    Address a = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&sun), sizeof(sa_family_t));
    CHECK(a.is_unix());
    CHECK(a.host().empty());
    CHECK(a.to_string().empty());
}

TEST_CASE("equality compares family, IP, port and scope, ignoring padding") {
    CHECK(parsed("1.2.3.4:5") == parsed("1.2.3.4:5"));
    CHECK(parsed("1.2.3.4:5") != parsed("1.2.3.4:6"));
    CHECK(parsed("1.2.3.4:5") != parsed("1.2.3.5:5"));
    CHECK(parsed("[::1]:5") != parsed("127.0.0.1:5"));
    CHECK(parsed("[fe80::1%lo]:5") != parsed("[fe80::1]:5"));
    CHECK(parsed("/a") != parsed("@a"));

    Address dirty = parsed("1.2.3.4:5");
    std::memset(reinterpret_cast<sockaddr_in*>(dirty.data())->sin_zero, 0xff, 8);
    CHECK(dirty == parsed("1.2.3.4:5"));
    CHECK(std::hash<Address>{}(dirty) == std::hash<Address>{}(parsed("1.2.3.4:5")));
}

TEST_CASE("addresses work as keys of an unordered_set") {
    std::unordered_set<Address> set;
    for (auto text : {"1.2.3.4:5", "[::1]:5", "/tmp/a", "@a", "1.2.3.4:5", "[::1]:5"})
        set.insert(parsed(text));
    CHECK(set.size() == 4);
    CHECK(set.count(parsed("@a")) == 1);
    CHECK(set.count(parsed("@b")) == 0);
}

TEST_CASE("operator<< writes the text form") {
    std::ostringstream out;
    out << parsed("[::1]:80") << ' ' << parsed("@x");
    CHECK(out.str() == "[::1]:80 @x");
}

TEST_CASE("an Address is a trivially copyable value with no heap") {
    static_assert(std::is_trivially_copyable_v<Address>);
    static_assert(sizeof(Address) <= sizeof(sockaddr_storage) + 8);
    Address a = parsed("[::1]:80");
    Address b = a;
    CHECK(b == a);
}

}  // TEST_SUITE
