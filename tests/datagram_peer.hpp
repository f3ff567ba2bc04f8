// A blocking UDP socket outside any engine that reads what an engine sent
// it (shared by the datagram sending suites). Every receive gives up after
// 5 s, so a lost datagram fails the test instead of hanging it.
#pragma once

#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

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

}  // namespace test
