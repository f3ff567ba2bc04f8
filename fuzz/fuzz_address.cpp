// libFuzzer target for Address::parse (net/address.cpp).
//
// Any text either fails with one of the documented errors, or gives an
// address whose printed form parses back to an equal address (same hash)
// that prints the same; an IP address is also rebuilt from host() and
// port() through from_ip. Any mismatch aborts.
// Build and run: fuzz/run.sh SECONDS fuzz_address
#include <pants/address.hpp>

#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

namespace {

[[noreturn]] void fail(const char* what, std::string_view input, const std::string& detail = {}) {
    std::fprintf(stderr, "fuzz_address: %s\n  input: '%.*s'\n  detail: '%s'\n", what, int(input.size()),
                 input.data(), detail.c_str());
    std::abort();
}

bool documented_error(std::error_code e) {
    return e == std::errc::invalid_argument || e == std::errc::no_such_device ||
           e == std::errc::filename_too_long;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using pants::Address;
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    auto parsed = Address::parse(text);
    if (!parsed) {
        if (!documented_error(parsed.error())) fail("undocumented error", text, parsed.error().message());
        return 0;
    }
    const Address& a = *parsed;
    const int family = a.family();
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX) fail("unexpected family", text);
    if (a.size() == 0 || a.size() > Address::capacity()) fail("bad size", text);
    if (!(a == a)) fail("not equal to itself", text);

    const std::string printed = a.to_string();
    if (printed.empty()) fail("a parsed address prints as empty", text);
    auto again = Address::parse(printed);
    if (!again) fail("the printed form does not parse", text, printed);
    if (!(*again == a)) fail("parse(to_string(a)) != a", text, printed);
    if (again->hash() != a.hash()) fail("equal addresses hash differently", text, printed);
    if (again->to_string() != printed) fail("printing is not stable", text, printed + " -> " + again->to_string());

    const std::string host = a.host();
    if (family == AF_UNIX) {
        if (a.port() != 0) fail("a Unix address has a port", text);
        if (host != printed) fail("a Unix address's host() differs from to_string()", text, host);
        auto path = Address::unix_path(host);
        if (!path || !(*path == a)) fail("unix_path(host()) != a", text, host);
    } else {
        auto rebuilt = Address::from_ip(host, a.port());
        if (!rebuilt || !(*rebuilt == a)) fail("from_ip(host(), port()) != a", text, host);
        if (family == AF_INET6 && printed != "[" + host + "]:" + std::to_string(a.port()))
            fail("IPv6 text is not [host]:port", text, printed);
        Address moved = a;
        moved.set_port(static_cast<std::uint16_t>(a.port() + 1));
        if (moved == a) fail("a different port compares equal", text);
        moved.set_port(a.port());
        if (!(moved == a)) fail("set_port back does not restore equality", text);
    }

    // What the kernel hands back (accept, recvfrom) goes through
    // from_sockaddr; a copy must compare equal too.
    Address copy = Address::from_sockaddr(a.data(), a.size());
    if (!(copy == a) || copy.hash() != a.hash()) fail("from_sockaddr copy differs", text);
    return 0;
}
