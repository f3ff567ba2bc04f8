// Destination address selection: RFC 6724 6, with the policy table of
// RFC 6724 2.1 and the scopes of RFC 6724 3.
#include <pants/dns/address_order.hpp>
#include <pants/dns/detail/address_order.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace pants::dns {
namespace detail {

namespace {

using Bytes = std::array<std::uint8_t, 16>;

// RFC 6724 3.1: scope values (RFC 4291 2.7).
constexpr int kScopeLinkLocal = 0x2;
constexpr int kScopeSiteLocal = 0x5;
constexpr int kScopeGlobal = 0xe;

/// An IP address as 16 bytes: IPv6 as is, IPv4 as IPv4-mapped (RFC 6724
/// 2.1 looks IPv4 addresses up in the table that way).
Bytes as_ipv6(const Address& address) {
    Bytes b{};
    if (address.is_ipv4()) {
        b[10] = b[11] = 0xff;
        std::memcpy(&b[12], &reinterpret_cast<const sockaddr_in*>(address.data())->sin_addr, 4);
    } else {
        std::memcpy(b.data(), &reinterpret_cast<const sockaddr_in6*>(address.data())->sin6_addr, 16);
    }
    return b;
}

bool is_v4_mapped(const Bytes& b) {
    return std::all_of(b.begin(), b.begin() + 10, [](std::uint8_t x) { return x == 0; }) && b[10] == 0xff &&
           b[11] == 0xff;
}

/// Leading bits `a` and `b` share.
int common_prefix(const Bytes& a, const Bytes& b) {
    int bits = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const std::uint8_t x = a[i] ^ b[i];
        if (x == 0) {
            bits += 8;
            continue;
        }
        for (int bit = 7; bit >= 0 && !(x >> bit & 1); --bit) ++bits;
        break;
    }
    return bits;
}

/// RFC 6724 3.1 and 3.2 (IPv4 loopback and autoconfiguration addresses are
/// link-local, every other IPv4 address is global).
int scope_of(const Bytes& b) {
    if (is_v4_mapped(b)) return (b[12] == 127 || (b[12] == 169 && b[13] == 254)) ? kScopeLinkLocal : kScopeGlobal;
    if (b[0] == 0xff) return b[1] & 0x0f;  // multicast: the scope field
    const bool loopback = std::all_of(b.begin(), b.begin() + 15, [](std::uint8_t x) { return x == 0; }) && b[15] == 1;
    if (loopback || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)) return kScopeLinkLocal;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return kScopeSiteLocal;  // deprecated site-local fec0::/10
    return kScopeGlobal;
}

struct Policy {
    Bytes prefix;
    int length;
    int precedence;
    int label;
};

// RFC 6724 2.1, the default policy table.
const std::array<Policy, 9>& policy_table() {
    static const std::array<Policy, 9> table{{
        {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, 50, 0},        // ::1/128
        {{}, 0, 40, 1},                                                       // ::/0
        {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, 35, 4},              // ::ffff:0:0/96
        {{0x20, 0x02}, 16, 30, 2},                                            // 2002::/16 (6to4)
        {{0x20, 0x01, 0, 0}, 32, 5, 5},                                       // 2001::/32 (Teredo)
        {{0xfc}, 7, 3, 13},                                                   // fc00::/7 (ULA)
        {{}, 96, 1, 3},                                                       // ::/96 (IPv4-compatible)
        {{0xfe, 0xc0}, 10, 1, 11},                                            // fec0::/10
        {{0x3f, 0xfe}, 16, 1, 12},                                            // 3ffe::/16 (6bone)
    }};
    return table;
}

/// The entry with the longest prefix matching `b`.
const Policy& policy_of(const Bytes& b) {
    const Policy* best = nullptr;
    for (const Policy& p : policy_table())
        if (common_prefix(b, p.prefix) >= p.length && (!best || p.length > best->length)) best = &p;
    return *best;  // ::/0 matches everything
}

/// What the rules compare, worked out once per destination.
struct Facts {
    bool usable = false;
    bool ipv6 = false;  // native IPv6 on both ends (rule 9)
    int scope = 0, source_scope = 0;
    int label = 0, source_label = 0;
    int precedence = 0;
    int prefix = 0;  // common prefix of destination and source
};

Facts facts_of(const Destination& d) {
    Facts f;
    const Bytes dst = as_ipv6(d.address);
    const Policy& dp = policy_of(dst);
    f.scope = scope_of(dst);
    f.label = dp.label;
    f.precedence = dp.precedence;
    if (!d.source) return f;
    f.usable = true;
    const Bytes src = as_ipv6(*d.source);
    f.source_scope = scope_of(src);
    f.source_label = policy_of(src).label;
    f.ipv6 = !is_v4_mapped(dst) && !is_v4_mapped(src);
    // RFC 6724 2.2: CommonPrefixLen counts only up to the source's prefix
    // length, which we do not know; /64 is what almost every IPv6 subnet
    // uses (glibc makes the same assumption when it lacks the prefix).
    f.prefix = std::min(common_prefix(dst, src), 64);
    return f;
}

/// RFC 6724 6: true when `a` should be tried before `b`.
bool before(const Facts& a, const Facts& b) {
    if (a.usable != b.usable) return a.usable;  // rule 1
    if (!a.usable) return false;                // neither has a source: nothing else to compare
    const bool scope_a = a.scope == a.source_scope, scope_b = b.scope == b.source_scope;
    if (scope_a != scope_b) return scope_a;  // rule 2
    const bool label_a = a.label == a.source_label, label_b = b.label == b.source_label;
    if (label_a != label_b) return label_a;                                  // rule 5
    if (a.precedence != b.precedence) return a.precedence > b.precedence;   // rule 6
    if (a.scope != b.scope) return a.scope < b.scope;                        // rule 8
    if (a.ipv6 && b.ipv6 && a.prefix != b.prefix) return a.prefix > b.prefix;  // rule 9
    return false;                                                            // rule 10
}

}  // namespace

std::optional<Address> source_for(const Address& destination, bool& probe_failed) {
    const int family = destination.is_ipv4() ? AF_INET : AF_INET6;
    const int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        probe_failed = true;
        return std::nullopt;
    }
    // connect() on a UDP socket only picks the route and the source
    // address: nothing is sent. A port is needed; the discard port will do.
    sockaddr_storage to{};
    std::memcpy(&to, destination.data(), destination.size());
    if (family == AF_INET)
        reinterpret_cast<sockaddr_in*>(&to)->sin_port = htons(9);
    else
        reinterpret_cast<sockaddr_in6*>(&to)->sin6_port = htons(9);
    std::optional<Address> source;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), destination.size()) == 0) {
        sockaddr_storage local{};
        socklen_t length = sizeof local;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0)
            source = Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&local), length);
    }
    ::close(fd);
    return source;
}

void order_destinations(std::vector<Destination>& destinations) {
    std::vector<std::pair<Facts, Destination>> keyed;
    keyed.reserve(destinations.size());
    for (auto& d : destinations) keyed.emplace_back(facts_of(d), std::move(d));
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return before(a.first, b.first); });
    for (std::size_t i = 0; i < keyed.size(); ++i) destinations[i] = std::move(keyed[i].second);
}

}  // namespace detail

void sort_destinations(std::vector<Address>& destinations) {
    std::vector<detail::Destination> ip;
    std::vector<Address> other;
    bool probe_failed = false;
    for (const Address& a : destinations) {
        if (!a.is_ipv4() && !a.is_ipv6()) {
            other.push_back(a);
            continue;
        }
        ip.push_back({a, detail::source_for(a, probe_failed)});
        if (probe_failed) return;  // cannot tell usable from unusable: keep the order
    }
    detail::order_destinations(ip);
    destinations.clear();
    for (auto& d : ip) destinations.push_back(std::move(d.address));
    for (auto& a : other) destinations.push_back(std::move(a));
}

}  // namespace pants::dns
