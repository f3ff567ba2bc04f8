// pants/address.hpp: one socket address type for IPv4, IPv6 and Unix sockets.
//
// An Address is a value: a sockaddr_storage plus its length, no heap, cheap
// to copy, usable directly with bind/connect/accept/recvfrom through data(),
// size() and set_size(). It parses and prints one text form per family:
//
//   IPv4              "127.0.0.1:80"
//   IPv6              "[::1]:80", "[fe80::1%lo]:80" (scope by name or number)
//   Unix path         "/run/x.sock", "./x.sock", "../x.sock"
//   Linux abstract    "@name" (stored with a leading NUL in sun_path)
//
// IP forms always need a port: an Address names a socket, not a host. Host
// names are not resolved here; pants::dns and Client do that.
//
// Equality and hashing compare what the kernel compares: family, IP, port
// and IPv6 scope (not flowinfo, not sin_zero); for Unix sockets the path
// bytes, whatever length the kernel reported for the trailing NUL.
//
// No Address function blocks. parse/from_ip look up an interface name for a
// "%scope" with if_nametoindex, and printing a scope uses if_indextoname.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

#include <pants/result.hpp>

namespace pants {

/// An IPv4, IPv6 or Unix socket address; empty (family AF_UNSPEC) by default.
class Address {
public:
    /// An empty address: family() == AF_UNSPEC, size() == 0.
    Address() noexcept;

    /// Parses one of the text forms above. Errors: std::errc::invalid_argument
    /// for malformed text (missing or bad port, IPv6 without brackets, a host
    /// name, empty text), std::errc::no_such_device for an unknown "%ifname"
    /// scope, std::errc::filename_too_long for a Unix path that does not fit
    /// sun_path.
    static Result<Address> parse(std::string_view text);

    /// An address from an IP literal without brackets ("10.0.0.1", "::1",
    /// "fe80::1%eth0") and a port. Errors as parse().
    static Result<Address> from_ip(std::string_view ip, std::uint16_t port);

    /// 0.0.0.0:port, for binding on every IPv4 interface.
    static Address ipv4_any(std::uint16_t port) noexcept;
    /// [::]:port, for binding on every IPv6 interface.
    static Address ipv6_any(std::uint16_t port) noexcept;
    /// 127.0.0.1:port.
    static Address loopback_v4(std::uint16_t port) noexcept;
    /// [::1]:port.
    static Address loopback_v6(std::uint16_t port) noexcept;

    /// A Unix socket address; a leading '@' makes a Linux abstract name.
    /// Errors: std::errc::invalid_argument for an empty path, a lone "@" or
    /// an embedded NUL; std::errc::filename_too_long past sun_path (107 bytes
    /// for a path, which needs its NUL; 107 for an abstract name).
    static Result<Address> unix_path(std::string_view path);

    /// A copy of `len` bytes of a sockaddr (as filled by accept, recvfrom,
    /// getsockname). `len` is clamped to capacity().
    static Address from_sockaddr(const sockaddr* addr, socklen_t len) noexcept;

    /// The sockaddr, for connect/bind/sendto.
    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    /// The sockaddr storage, capacity() bytes, for accept/recvfrom to fill.
    sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
    /// The significant length of data().
    socklen_t size() const noexcept { return size_; }
    /// Sets the length the kernel reported after filling data(); clamped to
    /// capacity().
    void set_size(socklen_t len) noexcept { size_ = len > capacity() ? capacity() : len; }
    /// The most bytes data() can hold (sizeof(sockaddr_storage)).
    static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }

    /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC when empty.
    int family() const noexcept { return size_ == 0 ? AF_UNSPEC : storage_.ss_family; }
    bool is_ipv4() const noexcept { return family() == AF_INET; }
    bool is_ipv6() const noexcept { return family() == AF_INET6; }
    bool is_unix() const noexcept { return family() == AF_UNIX; }

    /// The port in host byte order; 0 for Unix and empty addresses.
    std::uint16_t port() const noexcept;
    /// Changes the port of an IP address; does nothing for other families.
    void set_port(std::uint16_t port) noexcept;

    /// The IP text without brackets ("::1", "fe80::1%lo"), the Unix path,
    /// "@name" for an abstract socket, "" for an unnamed Unix socket or an
    /// empty address.
    std::string host() const;
    /// The text form parse() reads: "127.0.0.1:80", "[::1]:80",
    /// "/tmp/x.sock", "@name"; "" for unnamed Unix or empty addresses.
    std::string to_string() const;

    /// Whether both name the same socket (see the header comment).
    friend bool operator==(const Address& a, const Address& b) noexcept;
    /// A hash consistent with operator==.
    std::size_t hash() const noexcept;

private:
    // The sun_path bytes that name a Unix socket: without the trailing NUL
    // for a path, with the leading NUL for an abstract name.
    std::string_view unix_name() const noexcept;

    sockaddr_storage storage_;
    socklen_t size_;
};

/// Writes a.to_string().
std::ostream& operator<<(std::ostream& os, const Address& a);

}  // namespace pants

template <>
struct std::hash<pants::Address> {
    std::size_t operator()(const pants::Address& a) const noexcept { return a.hash(); }
};
