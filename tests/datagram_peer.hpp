// A blocking UDP socket outside any engine that reads what an engine sent
// it (shared by the datagram sending suites). Every receive gives up after
// 5 s, so a lost datagram fails the test instead of hanging it.
#pragma once

#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace test {

struct DatagramPeer {
    int fd;
    pants::Address address;
    DatagramPeer(int family, const pants::Address& where) : fd(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
        REQUIRE(fd >= 0);
        int size = 4 << 20;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        timeval limit{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        REQUIRE(::bind(fd, where.data(), where.size()) == 0);
        sockaddr_storage name{};
        socklen_t len = sizeof name;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&name), &len) == 0);
        address = pants::Address::from_sockaddr(reinterpret_cast<sockaddr*>(&name), len);
    }
    DatagramPeer(const DatagramPeer&) = delete;
    ~DatagramPeer() { ::close(fd); }
    // The next datagram, whole (MSG_TRUNC gives its real length).
    std::string next() {
        std::string buf(70000, '\0');
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_TRUNC);
        REQUIRE(n >= 0);
        buf.resize(std::size_t(n));
        return buf;
    }
    // True if nothing more is waiting.
    bool empty() {
        char c;
        return ::recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0;
    }
};

/// Checks that `peer` received exactly `sent`, in order, and nothing more.
inline void expect_datagrams(DatagramPeer& peer, const std::vector<std::string>& sent) {
    for (std::size_t i = 0; i < sent.size(); ++i) {
        const std::string got = peer.next();
        INFO("datagram " << i << " of " << sent.size());
        REQUIRE(got.size() == sent[i].size());
        REQUIRE(got == sent[i]);
    }
    CHECK(peer.empty());
}

/// A UDP socket on which the kernel refuses UDP_SEGMENT (GSO), as a kernel
/// or device without it would: SO_NO_CHECK (no UDP checksum) makes it
/// fail with EINVAL. Checks the precondition on a socket of its own,
/// sending to `to` (nothing arrives there).
inline int gso_refusing_socket(const pants::Address& to) {
    int on = 1;
    int probe = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(probe >= 0);
    REQUIRE(::setsockopt(probe, SOL_SOCKET, SO_NO_CHECK, &on, sizeof on) == 0);
    int segment = 100;
    REQUIRE(::setsockopt(probe, SOL_UDP, UDP_SEGMENT, &segment, sizeof segment) == 0);
    const std::string two(200, 'x');
    const ssize_t sent = ::sendto(probe, two.data(), two.size(), 0, to.data(), to.size());
    const int err = errno;
    ::close(probe);
    REQUIRE(sent < 0);
    REQUIRE((err == EINVAL || err == EIO));
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &on, sizeof on) == 0);
    return fd;
}

}  // namespace test
