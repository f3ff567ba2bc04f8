#include "socket.hpp"

#include <pants/cluster.hpp>
#include <pants/listen_options.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace pants::detail {
namespace {

Result<void> set_int(int fd, int level, int name, int value) {
    if (::setsockopt(fd, level, name, &value, sizeof value) < 0) return fail(errno);
    return ok();
}

}  // namespace

Result<int> open_socket(int family, int type) {
    int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(errno);
    return fd;
}

Result<int> open_bound(const Address& address, int type, bool reuse_port) {
    auto fd = open_socket(address.family(), type);
    if (!fd) return fd;
    if (address.is_ipv6()) set_int(*fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);  // dual stack
    // A listener may rebind a port whose old connections linger in
    // TIME_WAIT. Not a UDP socket: there it would let a second socket bind
    // a port in use (and port 0 pick one), and take its datagrams.
    if (type == SOCK_STREAM && !address.is_unix()) set_int(*fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (reuse_port && !address.is_unix()) {
        if (auto r = set_int(*fd, SOL_SOCKET, SO_REUSEPORT, 1); !r) {
            ::close(*fd);
            return unexpected(r.error());
        }
    }
    if (::bind(*fd, address.data(), address.size()) < 0) {
        int err = errno;
        ::close(*fd);
        return fail(err);
    }
    return fd;
}

Result<int> open_listener(const Address& address, int backlog, bool reuse_port) {
    auto fd = open_bound(address, SOCK_STREAM, reuse_port);
    if (!fd) return fd;
    if (::listen(*fd, backlog) < 0) {
        int err = errno;
        ::close(*fd);
        return fail(err);
    }
    return fd;
}

bool is_tcp(int fd) noexcept {
    int domain = 0;
    socklen_t len = sizeof domain;
    return ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && (domain == AF_INET || domain == AF_INET6);
}

Result<void> set_nodelay(int fd, bool on) { return set_int(fd, IPPROTO_TCP, TCP_NODELAY, on); }

Result<void> set_keepalive(int fd, bool on, int idle_seconds) {
    if (auto r = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, on); !r || !on) return r;
    return set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_seconds);
}

Result<Address> local_address(int fd) {
    Address a;
    socklen_t len = Address::capacity();
    if (::getsockname(fd, a.data(), &len) < 0) return fail(errno);
    a.set_size(len);
    return a;
}

Result<Address> remote_address(int fd) {
    Address a;
    socklen_t len = Address::capacity();
    if (::getpeername(fd, a.data(), &len) < 0) return fail(errno);
    a.set_size(len);
    return a;
}

}  // namespace pants::detail

namespace pants::detail {

bool wants_reuse_port(const ListenOptions& options) noexcept {
    return options.reuse_port ? *options.reuse_port : Cluster::current() != nullptr;
}

}  // namespace pants::detail
