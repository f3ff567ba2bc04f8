// System DNS configuration: the hosts table (hosts(5)) and resolv.conf(5),
// parsed from text and loaded from files in a temporary directory.
#include <doctest/doctest.h>

#include <pants/dns/hosts_file.hpp>
#include <pants/dns/name.hpp>
#include <pants/dns/resolv_conf.hpp>
#include <pants/dns/types.hpp>

#include <net/if.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace pants::dns;
using namespace std::chrono_literals;
using pants::Address;

namespace {

// A fresh directory under $TMPDIR (or /tmp), removed with its content.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "pants-dnsconf-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        const auto file = path / name;
        std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
        return file.string();
    }
};

std::vector<std::string> hosts_of(const std::vector<Address>& list) {
    std::vector<std::string> out;
    for (const auto& a : list) out.push_back(a.host());
    return out;
}

Address ip(std::string_view text, std::uint16_t port = 0) { return *Address::from_ip(text, port); }

// A loopback interface name for zone tests ("lo" on Linux).
std::string loopback_ifname() {
    char name[IF_NAMESIZE] = {};
    REQUIRE(::if_indextoname(1, name) != nullptr);
    return name;
}

const char* const kHosts =
    "# The static table\n"
    "127.0.0.1\tlocalhost\n"
    "::1     localhost ip6-localhost ip6-loopback   # IPv6 loopback\n"
    "192.0.2.10  Host.Example  host  www   \n"
    "\n"
    "   # indented comment\n"
    "2001:db8::10 host.example host6\n"
    "192.0.2.11 host.example\n"
    "192.0.2.10 again.example\n"
    "192.0.2.12 second#comment-glued\n";

}  // namespace

TEST_SUITE("dns_config") {

TEST_CASE("hosts: each valid line becomes a record with its names as written") {
    const auto hosts = HostsFile::parse(kHosts);
    REQUIRE(hosts.all().size() == 7);
    CHECK(hosts.all()[0].address == ip("127.0.0.1"));
    CHECK(hosts.all()[0].names == std::vector<std::string>{"localhost"});
    CHECK(hosts.all()[1].names == std::vector<std::string>{"localhost", "ip6-localhost", "ip6-loopback"});
    CHECK(hosts.all()[2].names == std::vector<std::string>{"Host.Example", "host", "www"});
    CHECK(hosts.all()[6].names == std::vector<std::string>{"second"});
    CHECK(hosts.path().empty());
}

TEST_CASE("hosts: names match case-insensitively, with or without a trailing dot") {
    const auto hosts = HostsFile::parse(kHosts);
    CHECK(hosts_of(hosts.addresses("HOST.example", A)) == std::vector<std::string>{"192.0.2.10", "192.0.2.11"});
    CHECK(hosts_of(hosts.addresses("host.example.", A)) == std::vector<std::string>{"192.0.2.10", "192.0.2.11"});
    CHECK(hosts_of(hosts.addresses("WWW", A)) == std::vector<std::string>{"192.0.2.10"});
    CHECK(hosts.addresses("nothere", A).empty());
    CHECK(hosts.addresses("second#comment-glued", A).empty());
}

TEST_CASE("hosts: A gives the IPv4 lines and AAAA the IPv6 lines, in file order") {
    const auto hosts = HostsFile::parse(kHosts);
    CHECK(hosts_of(hosts.addresses("localhost", A)) == std::vector<std::string>{"127.0.0.1"});
    CHECK(hosts_of(hosts.addresses("localhost", AAAA)) == std::vector<std::string>{"::1"});
    CHECK(hosts_of(hosts.addresses("host.example", AAAA)) == std::vector<std::string>{"2001:db8::10"});
    CHECK(hosts.addresses("localhost", MX).empty());
    for (const auto& a : hosts.addresses("host.example", A)) CHECK(a.port() == 0);
}

TEST_CASE("hosts: an address listed twice for a name is returned once") {
    const auto hosts = HostsFile::parse("10.0.0.1 dup\n10.0.0.1 dup other\n10.0.0.2 DUP\n");
    CHECK(hosts_of(hosts.addresses("dup", A)) == std::vector<std::string>{"10.0.0.1", "10.0.0.2"});
}

TEST_CASE("hosts: IPv6 addresses keep their zone, by interface name or number") {
    const std::string lo = loopback_ifname();
    const auto hosts = HostsFile::parse("fe80::1%" + lo + " linklocal\nfe80::2%1 bynumber\n");
    CHECK(hosts_of(hosts.addresses("linklocal", AAAA)) == std::vector<std::string>{"fe80::1%" + lo});
    CHECK(hosts_of(hosts.addresses("bynumber", AAAA)) == std::vector<std::string>{"fe80::2%" + lo});
    // The AAAA record carries no zone.
    const auto records = hosts.records("linklocal", AAAA);
    REQUIRE(records.size() == 1);
    CHECK(to_string(records[0]) == "fe80::1");
}

TEST_CASE("hosts: lines without a valid address or without a name are skipped") {
    const auto hosts = HostsFile::parse(
        "999.1.1.1 badv4\n"
        "127.1 shorthand\n"
        "not-an-ip word\n"
        "fe80::1%nosuchif0 badzone\n"
        "10.0.0.1\n"
        "10.0.0.2 # only a comment\n"
        "[::1] brackets\n"
        "10.0.0.3 bad..name good\n");
    REQUIRE(hosts.all().size() == 1);
    CHECK(hosts.all()[0].names == std::vector<std::string>{"good"});
    CHECK(hosts.addresses("badv4", A).empty());
    CHECK(hosts.addresses("shorthand", A).empty());
    CHECK(!hosts.entry("badzone"));
    CHECK(!hosts.entry("bad..name"));
}

TEST_CASE("hosts: carriage returns, vertical tabs and form feeds separate fields, as in glibc") {
    // Found by fuzz_hosts_file: "link.lo\rcal" was one name holding a '\r'.
    const auto hosts = HostsFile::parse("10.0.0.1 one\rtwo\vthree\ffour\r\n10.0.0.2\fform\n");
    REQUIRE(hosts.all().size() == 2);
    CHECK(hosts.all()[0].names == std::vector<std::string>{"one", "two", "three", "four"});
    CHECK(hosts.all()[1].names == std::vector<std::string>{"form"});
    CHECK(hosts.addresses("three", A) == std::vector<Address>{*Address::parse("10.0.0.1:0")});
}

TEST_CASE("hosts: name_for gives the first name of the first line with the address") {
    const auto hosts = HostsFile::parse(kHosts);
    CHECK(hosts.name_for(ip("192.0.2.10")) == "Host.Example");
    CHECK(hosts.name_for(ip("192.0.2.10", 8080)) == "Host.Example");
    CHECK(hosts.name_for(ip("::1")) == "localhost");
    CHECK(hosts.name_for(ip("2001:db8::10")) == "host.example");
    CHECK(!hosts.name_for(ip("192.0.2.99")));
    CHECK(!hosts.name_for(Address{}));
}

TEST_CASE("hosts: entry gathers canonical name, aliases and addresses of every line naming it") {
    const auto hosts = HostsFile::parse(kHosts);
    const auto e = hosts.entry("host.example");
    REQUIRE(e);
    CHECK(e->canonical == "Host.Example");
    CHECK(e->aliases == std::vector<std::string>{"host", "www", "host6"});
    CHECK(hosts_of(e->v4) == std::vector<std::string>{"192.0.2.10", "192.0.2.11"});
    CHECK(hosts_of(e->v6) == std::vector<std::string>{"2001:db8::10"});

    // An alias gets the lines that name it, not those of its canonical name.
    const auto www = hosts.entry("WWW");
    REQUIRE(www);
    CHECK(www->canonical == "Host.Example");
    CHECK(www->aliases == std::vector<std::string>{"host", "www"});
    CHECK(hosts_of(www->v4) == std::vector<std::string>{"192.0.2.10"});
    CHECK(www->v6.empty());

    const auto lo = hosts.entry("LOCALHOST");
    REQUIRE(lo);
    CHECK(lo->canonical == "localhost");
    CHECK(lo->aliases == std::vector<std::string>{"ip6-localhost", "ip6-loopback"});
    CHECK(hosts_of(lo->v4) == std::vector<std::string>{"127.0.0.1"});
    CHECK(hosts_of(lo->v6) == std::vector<std::string>{"::1"});
    CHECK(!hosts.entry("nothere"));
}

TEST_CASE("hosts: records answers A, AAAA and reverse PTR queries as rdata") {
    const auto hosts = HostsFile::parse(kHosts);
    CHECK(hosts.records("host.example", A) ==
          std::vector<Rdata>{rdata::A{{192, 0, 2, 10}}, rdata::A{{192, 0, 2, 11}}});
    CHECK(hosts.records("host.example", AAAA) ==
          std::vector<Rdata>{rdata::AAAA{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}}});
    CHECK(hosts.records("10.2.0.192.in-addr.arpa.", PTR) == std::vector<Rdata>{rdata::PTR{"Host.Example."}});
    CHECK(hosts.records("10.2.0.192.IN-ADDR.ARPA", PTR) == std::vector<Rdata>{rdata::PTR{"Host.Example."}});
    CHECK(hosts.records(reverse_name(std::array<std::uint8_t, 16>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}),
                        PTR) == std::vector<Rdata>{rdata::PTR{"localhost."}});
    CHECK(hosts.records("host.example", MX).empty());
    CHECK(hosts.records("host.example", PTR).empty());
    CHECK(hosts.records("nothere", A).empty());
}

TEST_CASE("hosts: load reads a file, and reports why it cannot") {
    TempDir dir;
    const auto path = dir.write("hosts", "10.1.2.3 filehost\n");
    auto hosts = HostsFile::load(path);
    REQUIRE(hosts);
    CHECK(hosts->path() == path);
    CHECK(hosts_of(hosts->addresses("filehost", A)) == std::vector<std::string>{"10.1.2.3"});

    auto missing = HostsFile::load((dir.path / "absent").string());
    REQUIRE(!missing);
    CHECK(missing.error() == std::errc::no_such_file_or_directory);
    auto directory = HostsFile::load(dir.path.string());
    REQUIRE(!directory);
    CHECK(directory.error() == std::errc::is_a_directory);
}

TEST_CASE("hosts: reload_if_changed re-reads a changed file at most once per interval") {
    TempDir dir;
    const auto path = dir.write("hosts", "10.0.0.1 one\n");
    auto loaded = HostsFile::load(path);
    REQUIRE(loaded);
    HostsFile hosts = std::move(*loaded);
    auto t = std::chrono::steady_clock::now();

    // Unchanged: nothing to do, even after the interval.
    t += 2s;
    CHECK(!hosts.reload_if_changed(t));

    // Replaced by rename (another inode, another size): not seen before the
    // interval has passed since the last look...
    const auto next = dir.write("hosts.new", "10.0.0.2 two\n10.0.0.3 three\n");
    std::filesystem::rename(next, path);
    CHECK(!hosts.reload_if_changed(t + 500ms));
    CHECK(hosts.entry("one"));
    // ...then seen once.
    t += 1s;
    CHECK(hosts.reload_if_changed(t));
    CHECK(!hosts.entry("one"));
    CHECK(hosts_of(hosts.addresses("three", A)) == std::vector<std::string>{"10.0.0.3"});
    CHECK(hosts.path() == path);
    t += 1s;
    CHECK(!hosts.reload_if_changed(t));

    // Rewritten in place with another size.
    dir.write("hosts", "10.0.0.4 four\n");
    t += 1s;
    CHECK(hosts.reload_if_changed(t));
    CHECK(hosts_of(hosts.addresses("four", A)) == std::vector<std::string>{"10.0.0.4"});

    // Removed: the table empties, once.
    std::filesystem::remove(path);
    t += 1s;
    CHECK(hosts.reload_if_changed(t));
    CHECK(hosts.all().empty());
    t += 1s;
    CHECK(!hosts.reload_if_changed(t));

    // Back again.
    dir.write("hosts", "10.0.0.5 five\n");
    t += 1s;
    CHECK(hosts.reload_if_changed(t));
    CHECK(hosts.entry("five"));
}

TEST_CASE("hosts: watch starts empty on a missing file and picks it up once it exists") {
    TempDir dir;
    const auto path = (dir.path / "hosts").string();
    auto hosts = HostsFile::watch(path);
    CHECK(hosts.all().empty());
    CHECK(hosts.path() == path);
    auto t = std::chrono::steady_clock::now() + 2s;
    CHECK(!hosts.reload_if_changed(t));

    dir.write("hosts", "10.0.0.7 seven\n");
    t += 1s;
    CHECK(hosts.reload_if_changed(t));
    CHECK(hosts_of(hosts.addresses("seven", A)) == std::vector<std::string>{"10.0.0.7"});

    // On a readable file it is load().
    const auto loaded = HostsFile::watch(path);
    CHECK(loaded.entry("seven"));
}

TEST_CASE("hosts: a parsed table has no file to reload") {
    auto hosts = HostsFile::parse("10.0.0.1 one\n");
    CHECK(!hosts.reload_if_changed(std::chrono::steady_clock::now() + 1h));
    CHECK(hosts.entry("one"));
}

TEST_CASE("resolv.conf: empty text gives the defaults of resolv.conf(5)") {
    const auto conf = ResolvConf::parse("");
    CHECK(conf.nameservers == std::vector<Address>{ip("127.0.0.1", 53)});
    CHECK(conf.search.empty());
    CHECK(conf.ndots == 1);
    CHECK(conf.timeout == 5000ms);
    CHECK(conf.attempts == 2);
    CHECK(!conf.rotate);
}

TEST_CASE("resolv.conf: nameservers are IPv4 or IPv6 with zone, port 53, at most three") {
    const std::string lo = loopback_ifname();
    const auto conf = ResolvConf::parse(
        "nameserver 192.0.2.1\n"
        "nameserver not-an-address\n"
        "nameserver 2001:db8::53   # trailing comment\n"
        "nameserver fe80::53%" + lo + "\n"
        "nameserver 192.0.2.4\n");
    CHECK(conf.nameservers ==
          std::vector<Address>{ip("192.0.2.1", 53), ip("2001:db8::53", 53), ip("fe80::53%" + lo, 53)});
    CHECK(conf.nameservers[2].to_string() == "[fe80::53%" + lo + "]:53");
}

TEST_CASE("resolv.conf: domain and search are exclusive and the last one wins") {
    CHECK(ResolvConf::parse("domain a.example\nsearch b.example c.example\n").search ==
          std::vector<std::string>{"b.example", "c.example"});
    CHECK(ResolvConf::parse("search b.example c.example\ndomain a.example\n").search ==
          std::vector<std::string>{"a.example"});
    CHECK(ResolvConf::parse("search one.example\nsearch two.example\n").search ==
          std::vector<std::string>{"two.example"});
    CHECK(ResolvConf::parse("search\n").search.empty());
}

TEST_CASE("resolv.conf: options set ndots, timeout, attempts and rotate") {
    const auto conf = ResolvConf::parse("options ndots:3 timeout:2\noptions attempts:4 rotate edns0\n");
    CHECK(conf.ndots == 3);
    CHECK(conf.timeout == 2000ms);
    CHECK(conf.attempts == 4);
    CHECK(conf.rotate);
}

TEST_CASE("resolv.conf: option values are capped as resolv.conf(5) says") {
    const auto capped = ResolvConf::parse("options ndots:99 timeout:100 attempts:9\n");
    CHECK(capped.ndots == 15);
    CHECK(capped.timeout == 30000ms);
    CHECK(capped.attempts == 5);
    const auto low = ResolvConf::parse("options ndots:0 timeout:0 attempts:0\n");
    CHECK(low.ndots == 0);
    CHECK(low.timeout == 1000ms);
    CHECK(low.attempts == 1);
}

TEST_CASE("resolv.conf: malformed option values and unknown keywords are ignored") {
    const auto conf = ResolvConf::parse(
        "options ndots:x timeout:-1 attempts: ndots:2junk rotate:yes\n"
        "sortlist 130.155.160.0/255.255.240.0\n"
        "bogus line here\n"
        "nameserver\n");
    CHECK(conf.ndots == 1);
    CHECK(conf.timeout == 5000ms);
    CHECK(conf.attempts == 2);
    CHECK(!conf.rotate);
    CHECK(conf.nameservers == std::vector<Address>{ip("127.0.0.1", 53)});
}

TEST_CASE("resolv.conf: # and ; start comments, in the first column or after a value") {
    const auto conf = ResolvConf::parse(
        "# nameserver 192.0.2.99\n"
        "; search hidden.example\n"
        "nameserver 192.0.2.1 ; the first\n"
        "search a.example # b.example\n"
        "options ndots:2;rotate\n");
    CHECK(conf.nameservers == std::vector<Address>{ip("192.0.2.1", 53)});
    CHECK(conf.search == std::vector<std::string>{"a.example"});
    CHECK(conf.ndots == 2);
    CHECK(!conf.rotate);
}

TEST_CASE("resolv.conf: load reads a file, and reports why it cannot") {
    TempDir dir;
    const auto path = dir.write("resolv.conf", "nameserver ::1\r\nsearch lan\r\noptions timeout:3\r\n");
    auto conf = ResolvConf::load(path);
    REQUIRE(conf);
    CHECK(conf->nameservers == std::vector<Address>{ip("::1", 53)});
    CHECK(conf->search == std::vector<std::string>{"lan"});
    CHECK(conf->timeout == 3000ms);

    auto missing = ResolvConf::load((dir.path / "absent").string());
    REQUIRE(!missing);
    CHECK(missing.error() == std::errc::no_such_file_or_directory);
}

}  // TEST_SUITE
