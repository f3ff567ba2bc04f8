// libFuzzer target for the hosts-file parser (dns/hosts_file.cpp).
//
// Parses arbitrary text as a hosts file, then checks the table against
// itself: every valid line's names find its address (by A/AAAA, entry()
// and records(), in any ASCII case and with a trailing dot), its address
// finds a name back (name_for, PTR on the reverse name), and the table is
// the lines parsed one by one, whatever the line ends ("\n" or "\r\n").
// Any mismatch aborts.
// Build and run: fuzz/run.sh SECONDS fuzz_hosts_file
#include <pants/dns/hosts_file.hpp>
#include <pants/dns/name.hpp>
#include <pants/dns/rdata.hpp>
#include <pants/dns/types.hpp>

#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using pants::Address;
using pants::dns::HostsFile;

std::string current_input;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_hosts_file: %s\n  detail: '%.*s'\n", what, int(detail.size()), detail.data());
    std::abort();
}

bool same_records(const std::vector<HostsFile::Record>& a, const std::vector<HostsFile::Record>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!(a[i].address == b[i].address) || a[i].names != b[i].names) return false;
    return true;
}

std::string flip_case(std::string_view name) {
    std::string out(name);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z')
            c = static_cast<char>(c - 'a' + 'A');
        else if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string reverse_of(const Address& a) {
    if (a.is_ipv4()) {
        std::array<std::uint8_t, 4> bytes{};
        std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in*>(a.data())->sin_addr, 4);
        return pants::dns::reverse_name(bytes);
    }
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in6*>(a.data())->sin6_addr, 16);
    return pants::dns::reverse_name(bytes);
}

void check_name(const HostsFile& hosts, const HostsFile::Record& record, std::string_view name) {
    const std::uint16_t type = record.address.is_ipv4() ? pants::dns::A : pants::dns::AAAA;
    auto addresses = hosts.addresses(name, type);
    if (std::find(addresses.begin(), addresses.end(), record.address) == addresses.end())
        fail("a name does not find its line's address", name);
    const std::uint16_t other = type == pants::dns::A ? pants::dns::AAAA : pants::dns::A;
    for (const auto& a : hosts.addresses(name, other))
        if (a.family() == record.address.family()) fail("addresses() mixes families", name);
    if (hosts.records(name, type).empty()) fail("records() is empty for a listed name", name);

    auto entry = hosts.entry(name);
    if (!entry) fail("entry() misses a listed name", name);
    if (entry->canonical.empty()) fail("entry() has no canonical name", name);
    const auto& list = record.address.is_ipv4() ? entry->v4 : entry->v6;
    if (std::find(list.begin(), list.end(), record.address) == list.end())
        fail("entry() misses the line's address", name);
    // Names compare as text, ASCII case-insensitively, as glibc's
    // strcasecmp does: "\\065" is not "A" in a hosts file.
    for (const auto& alias : entry->aliases)
        if (pants::dns::name_equal(alias, entry->canonical) && alias.find('\\') == std::string::npos &&
            entry->canonical.find('\\') == std::string::npos)
            fail("an alias repeats the canonical name", alias);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const HostsFile hosts = HostsFile::parse(text);

    for (const auto& record : hosts.all()) {
        if (!record.address.is_ipv4() && !record.address.is_ipv6()) fail("a record that is not IP");
        if (record.address.port() != 0) fail("a record with a port");
        if (record.names.empty()) fail("a record without names");
        for (const auto& name : record.names) {
            if (name.empty() || name.find_first_of(std::string_view(" \t\r\v\f\n#", 7)) != std::string::npos)
                fail("a name with a blank, line end or comment", name);
            if (!pants::dns::normalize_name(name)) fail("a name that is not a domain name", name);
            check_name(hosts, record, name);
            check_name(hosts, record, flip_case(name));
            if (name.back() != '.') check_name(hosts, record, name + ".");
        }
        auto back = hosts.name_for(record.address);
        if (!back) fail("an address does not find a name", record.address.to_string());
        const std::string reverse = reverse_of(record.address);
        auto ptr = hosts.records(reverse, pants::dns::PTR);
        if (ptr.size() != 1) fail("PTR on the reverse name is not one record", reverse);
        if (hosts.records(flip_case(reverse), pants::dns::PTR) != ptr) fail("PTR lookup is case-sensitive", reverse);
        if (!std::holds_alternative<pants::dns::rdata::PTR>(ptr.front()))
            fail("a PTR answer that is not a PTR record", reverse);
        auto target = pants::dns::normalize_name(*back);
        if (!target || std::get<pants::dns::rdata::PTR>(ptr.front()).name != *target)
            fail("PTR target differs from name_for()", *back);
    }

    // The table is the lines, each parsed on its own.
    std::vector<HostsFile::Record> by_line;
    std::string_view rest = text;
    while (true) {
        const std::size_t end = rest.find('\n');
        const HostsFile line = HostsFile::parse(rest.substr(0, end));
        by_line.insert(by_line.end(), line.all().begin(), line.all().end());
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
    }
    if (!same_records(hosts.all(), by_line)) fail("the table differs from its lines parsed one by one");

    if (text.find('\r') == std::string_view::npos) {
        std::string crlf;
        for (char c : text) {
            if (c == '\n') crlf += '\r';
            crlf += c;
        }
        if (!same_records(hosts.all(), HostsFile::parse(crlf).all())) fail("\"\\r\\n\" line ends change the table");
    }
    return 0;
}
