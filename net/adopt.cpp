// Sockets made elsewhere, handed to a channel: a listening socket to a
// Server, a datagram socket to a Datagram (Stream's constructor takes a
// connected one). Each is checked before it is taken, made non-blocking
// (the epoll backend tries every call first and must not block) and
// close-on-exec, as the sockets Pants opens itself are.
#include <pants/server.hpp>

#include <fcntl.h>
#include <sys/socket.h>

#include "datagram_io.hpp"
#include "listener_io.hpp"
#include "socket.hpp"

namespace pants {
namespace detail {
namespace {

// 0, or why `fd` is not a socket of `type`.
int check_socket(int fd, int type) noexcept {
    int actual = 0;
    socklen_t len = sizeof actual;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &actual, &len) < 0) return errno;  // EBADF, ENOTSOCK
    return actual == type ? 0 : EPROTOTYPE;
}

Result<void> make_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return fail(errno);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    return ok();
}

// A socket with a local address: bound (an unbound one reads as family only,
// or port 0).
bool is_bound(int fd) {
    auto a = local_address(fd);
    if (!a || a->size() <= sizeof(sa_family_t)) return false;
    return a->is_unix() || a->port() != 0;
}

}  // namespace

Result<void> DatagramIo::assign(int socket_fd) {
    if (closing()) return unexpected(close_error());
    if (fd >= 0) return pants::fail(EISCONN);
    if (int err = check_socket(socket_fd, SOCK_DGRAM)) return pants::fail(err);
    if (auto r = make_nonblocking(socket_fd); !r) return r;
    if (auto peer = remote_address(socket_fd)) {
        connected = true;
        last = *peer;
    }
    take(socket_fd, true);
    if (is_bound(socket_fd)) announce_listen();
    return ok();
}

}  // namespace detail

Result<void> ServerBase::assign(int listening_fd) {
    if (listening()) return fail(EISCONN);
    if (int err = detail::check_socket(listening_fd, SOCK_STREAM)) return fail(err);
    int accepting = 0;
    socklen_t len = sizeof accepting;
    if (::getsockopt(listening_fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0) return fail(errno);
    if (!accepting) return fail(EINVAL);  // bound perhaps, but not listening
    if (auto r = detail::make_nonblocking(listening_fd); !r) return r;
    drop_listener();  // a closed one from an earlier listen()
    listener_ = new detail::ListenerIo(*engine_, this, listening_fd);
    listen_started();
    return ok();
}

}  // namespace pants
