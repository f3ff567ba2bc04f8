// libFuzzer target for the resolv.conf parser (dns/resolv_conf.cpp) and
// the search list it feeds (search_candidates in dns/resolver_answer.cpp).
//
// Parses arbitrary text as resolv.conf and checks what resolv.conf(5)
// promises whatever the text: 1 to 3 IP nameservers on port 53, ndots in
// 0..15, timeout 1..30 s, attempts 1..5, search domains that are single
// fields; that the result is the same with "\r\n" line ends and with a
// comment appended to every line; and that the search candidates of names
// taken from the text are absolute, start or end with the name itself,
// and number at most one more than the search list. Any mismatch aborts.
// Build and run: fuzz/run.sh SECONDS fuzz_resolv_conf
#include <pants/dns/resolv_conf.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dns/resolver_core.hpp"

namespace {

using pants::dns::ResolvConf;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz_resolv_conf: %s\n  detail: '%.*s'\n", what, int(detail.size()), detail.data());
    std::abort();
}

bool same(const ResolvConf& a, const ResolvConf& b) {
    return a.nameservers == b.nameservers && a.search == b.search && a.ndots == b.ndots && a.timeout == b.timeout &&
           a.attempts == b.attempts && a.rotate == b.rotate;
}

void check_candidates(std::string_view name, const ResolvConf& conf) {
    const auto candidates = pants::dns::detail::search_candidates(name, conf.search, conf.ndots);
    if (candidates.empty()) fail("no search candidate", name);
    if (candidates.size() > conf.search.size() + 1) fail("more candidates than search domains + 1", name);
    for (const auto& c : candidates)
        if (c.empty() || c.back() != '.') fail("a candidate that is not absolute", c);
    if (name.empty() || name == "." || name.back() == '.') {
        if (candidates.size() != 1) fail("an absolute name has several candidates", name);
        return;
    }
    const std::string absolute = std::string(name) + ".";
    const auto dots = std::count(name.begin(), name.end(), '.');
    const std::string& expected_as_is = dots >= conf.ndots ? candidates.front() : candidates.back();
    if (expected_as_is != absolute) fail("the name as-is is not first/last as ndots says", name);
    for (const auto& c : candidates)
        if (!c.starts_with(absolute)) fail("a candidate does not start with the name", c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const ResolvConf conf = ResolvConf::parse(text);

    if (conf.nameservers.empty() || conf.nameservers.size() > ResolvConf::max_nameservers)
        fail("nameserver count out of 1..3");
    for (const auto& server : conf.nameservers) {
        if (!server.is_ipv4() && !server.is_ipv6()) fail("a nameserver that is not IP", server.to_string());
        if (server.port() != 53) fail("a nameserver not on port 53", server.to_string());
    }
    if (conf.ndots < 0 || conf.ndots > ResolvConf::max_ndots) fail("ndots out of range");
    if (conf.timeout < std::chrono::seconds(1) || conf.timeout > std::chrono::seconds(ResolvConf::max_timeout_seconds))
        fail("timeout out of range");
    if (conf.attempts < 1 || conf.attempts > ResolvConf::max_attempts) fail("attempts out of range");
    for (const auto& domain : conf.search)
        if (domain.empty() || domain.find_first_of(" \t\n#;") != std::string::npos)
            fail("a search domain that is not one field", domain);

    // Line ends and trailing comments do not change the meaning.
    if (text.find('\r') == std::string_view::npos) {
        std::string crlf, commented;
        for (char c : text) {
            if (c == '\n') {
                crlf += '\r';
                commented += " # x";
            }
            crlf += c;
            commented += c;
        }
        commented += " ;x";
        if (!same(conf, ResolvConf::parse(crlf))) fail("\"\\r\\n\" line ends change the configuration");
        if (!same(conf, ResolvConf::parse(commented))) fail("a trailing comment changes the configuration");
    }

    // Search candidates for a few names from the text itself.
    check_candidates("", conf);
    std::size_t start = 0;
    for (int n = 0; n < 8 && start < text.size(); ++n) {
        std::size_t end = text.find_first_of(" \t\n", start);
        if (end == std::string_view::npos) end = text.size();
        check_candidates(text.substr(start, end - start), conf);
        start = end + 1;
    }
    return 0;
}
