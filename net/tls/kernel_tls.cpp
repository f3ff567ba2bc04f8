// Run-time detection of kernel TLS (the `tls` upper layer protocol).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <pants/tls.hpp>

namespace pants::tls {

std::error_code kernel_tls_support() noexcept {
    // Asked once, on a socket of its own: attaching the ULP needs an
    // established connection, and the kernel looks the module up first, so
    // an unconnected socket answers ENOENT (no `tls` module) or ENOTCONN
    // (the module is there) without touching any real connection.
    static const int answer = [] {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return errno;
        const int r = ::setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof "tls");
        const int e = r == 0 || errno == ENOTCONN ? 0 : errno;
        ::close(fd);
        return e;
    }();
    return answer ? std::error_code(answer, std::system_category()) : std::error_code();
}

}  // namespace pants::tls
