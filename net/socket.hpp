// net/socket.hpp: the few socket system calls the channels share, each
// turning errno into a Result in one place.
#pragma once

#include <pants/address.hpp>
#include <pants/result.hpp>

namespace pants::detail {

/// A non-blocking, close-on-exec socket of `family` and `type`.
Result<int> open_socket(int family, int type);
/// socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind (+ IPV6_V6ONLY off for
/// dual stack) + listen.
Result<int> open_listener(const Address& address, int backlog, bool reuse_port = false);
/// socket + bind for datagrams (+ SO_REUSEPORT).
Result<int> open_bound(const Address& address, int type, bool reuse_port = false);
bool is_tcp(int fd) noexcept;
Result<void> set_nodelay(int fd, bool on);
Result<void> set_keepalive(int fd, bool on, int idle_seconds);
Result<Address> local_address(int fd);
Result<Address> remote_address(int fd);

}  // namespace pants::detail
