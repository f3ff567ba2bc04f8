// Address: parsing, printing and comparing socket addresses.
#include <pants/address.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <ostream>

namespace pants {
namespace {

constexpr std::size_t sun_path_offset = offsetof(sockaddr_un, sun_path);
constexpr std::size_t sun_path_size = sizeof(sockaddr_un::sun_path);

// A decimal port, 0..65535, digits only (no sign, no spaces).
Result<std::uint16_t> parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5)
        return fail(std::errc::invalid_argument);
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return fail(std::errc::invalid_argument);
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535)
        return fail(std::errc::invalid_argument);
    return static_cast<std::uint16_t>(value);
}

// RFC 4007 11.2: the zone index after '%' is an interface name or number.
Result<std::uint32_t> parse_scope(std::string_view zone) {
    if (zone.empty() || zone.size() >= IF_NAMESIZE)
        return fail(std::errc::invalid_argument);
    bool numeric = true;
    std::uint64_t value = 0;
    for (char c : zone) {
        if (c < '0' || c > '9') {
            numeric = false;
            break;
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (numeric)
        return value > UINT32_MAX ? fail(std::errc::invalid_argument)
                                  : Result<std::uint32_t>(static_cast<std::uint32_t>(value));
    char name[IF_NAMESIZE] = {};
    std::memcpy(name, zone.data(), zone.size());
    unsigned index = if_nametoindex(name);
    if (index == 0)
        return fail(std::errc::no_such_device);
    return index;
}

}  // namespace

Address::Address() noexcept : storage_{}, size_(0) {}

Result<Address> Address::from_ip(std::string_view ip, std::uint16_t port) {
    // The longest IPv6 text (with an embedded IPv4) is 45 characters.
    char text[64];
    std::string_view zone;
    bool has_zone = false;
    if (auto percent = ip.find('%'); percent != std::string_view::npos) {
        zone = ip.substr(percent + 1);
        ip = ip.substr(0, percent);
        has_zone = true;
    }
    if (ip.empty() || ip.size() >= sizeof text || ip.find('\0') != std::string_view::npos)
        return fail(std::errc::invalid_argument);
    std::memcpy(text, ip.data(), ip.size());
    text[ip.size()] = '\0';

    Address a;
    if (!has_zone) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage_);
        // glibc's inet_pton takes only a strict dotted quad (no "1.2.3",
        // no octal), which is what we want from text meant for sockets.
        if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
            sin->sin_family = AF_INET;
            sin->sin_port = htons(port);
            a.size_ = sizeof(sockaddr_in);
            return a;
        }
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    if (inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1)
        return fail(std::errc::invalid_argument);
    if (has_zone) {
        auto scope = parse_scope(zone);
        if (!scope)
            return unexpected(scope.error());
        sin6->sin6_scope_id = *scope;
    }
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    a.size_ = sizeof(sockaddr_in6);
    return a;
}

Result<Address> Address::parse(std::string_view text) {
    if (text.empty())
        return fail(std::errc::invalid_argument);
    if (text.front() == '/' || text.front() == '@' || text.starts_with("./") || text.starts_with("../"))
        return unix_path(text);

    std::string_view ip, port;
    if (text.front() == '[') {
        // RFC 3986 3.2.2: an IPv6 literal in brackets, then ":port".
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return fail(std::errc::invalid_argument);
        ip = text.substr(1, close - 1);
        port = text.substr(close + 2);
        // Brackets hold IPv6 only: "[1.2.3.4]:80" is not an address.
        if (ip.find(':') == std::string_view::npos)
            return fail(std::errc::invalid_argument);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return fail(std::errc::invalid_argument);  // a bare IP: the port is required
        ip = text.substr(0, colon);
        port = text.substr(colon + 1);
        // Unbracketed IPv6 ("::1:80") is ambiguous: the last group could be
        // the port or part of the address.
        if (ip.find(':') != std::string_view::npos || ip.find('%') != std::string_view::npos)
            return fail(std::errc::invalid_argument);
    }
    auto number = parse_port(port);
    if (!number)
        return unexpected(number.error());
    return from_ip(ip, *number);
}

Address Address::ipv4_any(std::uint16_t port) noexcept {
    Address a;
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage_);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
    sin->sin_port = htons(port);
    a.size_ = sizeof(sockaddr_in);
    return a;
}

Address Address::loopback_v4(std::uint16_t port) noexcept {
    Address a = ipv4_any(port);
    reinterpret_cast<sockaddr_in*>(&a.storage_)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

Address Address::ipv6_any(std::uint16_t port) noexcept {
    Address a;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6addr_any;
    sin6->sin6_port = htons(port);
    a.size_ = sizeof(sockaddr_in6);
    return a;
}

Address Address::loopback_v6(std::uint16_t port) noexcept {
    Address a = ipv6_any(port);
    reinterpret_cast<sockaddr_in6*>(&a.storage_)->sin6_addr = in6addr_loopback;
    return a;
}

Result<Address> Address::unix_path(std::string_view path) {
    if (path.empty() || path == "@" || path.find('\0') != std::string_view::npos)
        return fail(std::errc::invalid_argument);
    Address a;
    auto* sun = reinterpret_cast<sockaddr_un*>(&a.storage_);
    sun->sun_family = AF_UNIX;
    if (path.front() == '@') {
        // unix(7): an abstract name is the bytes after a leading NUL, its
        // length given by addrlen; no trailing NUL.
        auto name = path.substr(1);
        if (name.size() + 1 > sun_path_size)
            return fail(std::errc::filename_too_long);
        std::memcpy(sun->sun_path + 1, name.data(), name.size());
        a.size_ = static_cast<socklen_t>(sun_path_offset + 1 + name.size());
        return a;
    }
    // A path keeps its NUL inside sun_path, as portable code expects.
    if (path.size() + 1 > sun_path_size)
        return fail(std::errc::filename_too_long);
    std::memcpy(sun->sun_path, path.data(), path.size());
    a.size_ = static_cast<socklen_t>(sun_path_offset + path.size() + 1);
    return a;
}

Address Address::from_sockaddr(const sockaddr* addr, socklen_t len) noexcept {
    Address a;
    if (addr == nullptr)
        return a;
    a.set_size(len);
    std::memcpy(&a.storage_, addr, a.size_);
    return a;
}

std::uint16_t Address::port() const noexcept {
    switch (family()) {
    case AF_INET: return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AF_INET6: return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default: return 0;
    }
}

void Address::set_port(std::uint16_t port) noexcept {
    switch (family()) {
    case AF_INET: reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port); break;
    case AF_INET6: reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port); break;
    default: break;
    }
}

std::string_view Address::unix_name() const noexcept {
    if (family() != AF_UNIX || size_ <= sun_path_offset)
        return {};  // unnamed (socketpair, unbound client)
    const auto* sun = reinterpret_cast<const sockaddr_un*>(&storage_);
    std::size_t len = size_ - sun_path_offset;
    if (len > sun_path_size)
        len = sun_path_size;
    if (sun->sun_path[0] == '\0')
        return {sun->sun_path, len};  // abstract: every byte counts
    // The kernel may or may not count the path's trailing NUL in addrlen.
    return {sun->sun_path, ::strnlen(sun->sun_path, len)};
}

std::string Address::host() const {
    char text[INET6_ADDRSTRLEN];
    switch (family()) {
    case AF_INET: {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(&storage_);
        inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
        return text;
    }
    case AF_INET6: {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
        inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
        std::string out = text;
        if (sin6->sin6_scope_id != 0) {
            char name[IF_NAMESIZE];
            out += '%';
            if (if_indextoname(sin6->sin6_scope_id, name) != nullptr)
                out += name;
            else
                out += std::to_string(sin6->sin6_scope_id);
        }
        return out;
    }
    case AF_UNIX: {
        auto name = unix_name();
        if (!name.empty() && name.front() == '\0')
            return "@" + std::string(name.substr(1));
        return std::string(name);
    }
    default:
        return {};
    }
}

std::string Address::to_string() const {
    switch (family()) {
    case AF_INET: return host() + ":" + std::to_string(port());
    case AF_INET6: return "[" + host() + "]:" + std::to_string(port());
    default: return host();
    }
}

bool operator==(const Address& a, const Address& b) noexcept {
    if (a.family() != b.family())
        return false;
    switch (a.family()) {
    case AF_UNSPEC: return true;
    case AF_INET: {
        const auto* x = reinterpret_cast<const sockaddr_in*>(&a.storage_);
        const auto* y = reinterpret_cast<const sockaddr_in*>(&b.storage_);
        return x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
    }
    case AF_INET6: {
        const auto* x = reinterpret_cast<const sockaddr_in6*>(&a.storage_);
        const auto* y = reinterpret_cast<const sockaddr_in6*>(&b.storage_);
        return std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0 &&
               x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id;
    }
    case AF_UNIX: return a.unix_name() == b.unix_name();
    default:
        return a.size_ == b.size_ && std::memcmp(&a.storage_, &b.storage_, a.size_) == 0;
    }
}

std::size_t Address::hash() const noexcept {
    // Hash the same fields operator== compares, packed into bytes.
    char key[32] = {};
    std::size_t len = 0;
    auto put = [&](const void* p, std::size_t n) {
        std::memcpy(key + len, p, n);
        len += n;
    };
    std::size_t seed = static_cast<std::size_t>(family()) * 0x9e3779b97f4a7c15ULL;
    switch (family()) {
    case AF_INET: {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(&storage_);
        put(&sin->sin_addr, sizeof sin->sin_addr);
        put(&sin->sin_port, sizeof sin->sin_port);
        break;
    }
    case AF_INET6: {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
        put(&sin6->sin6_addr, sizeof sin6->sin6_addr);
        put(&sin6->sin6_port, sizeof sin6->sin6_port);
        put(&sin6->sin6_scope_id, sizeof sin6->sin6_scope_id);
        break;
    }
    case AF_UNIX: return seed ^ std::hash<std::string_view>{}(unix_name());
    case AF_UNSPEC: return seed;
    default:
        return seed ^ std::hash<std::string_view>{}(
                          std::string_view(reinterpret_cast<const char*>(&storage_), size_));
    }
    return seed ^ std::hash<std::string_view>{}(std::string_view(key, len));
}

std::ostream& operator<<(std::ostream& os, const Address& a) { return os << a.to_string(); }

}  // namespace pants
