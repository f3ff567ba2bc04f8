#include <pants/detail/backend.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <system_error>

#include <sys/socket.h>

#include "epoll_backend.hpp"
#include "pants_config.h"
#if PANTS_HAVE_URING
#include "uring_backend.hpp"
#endif

namespace pants::detail {
namespace {

BackendKind parse_choice(std::string_view name) {
    if (name == "io_uring" || name == "uring") return BackendKind::io_uring;
    if (name == "epoll") return BackendKind::epoll;
    if (name == "auto" || name.empty()) return BackendKind::automatic;
    throw std::invalid_argument("PANTS_BACKEND must be io_uring, epoll or auto, not '" +
                                std::string(name) + "'");
}

}  // namespace

int Backend::send_datagram(int fd, std::string_view data, DatagramSendSink&) noexcept {
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) return -errno;
    sent_at_once();
    return 0;  // a datagram goes whole or not at all
}

std::unique_ptr<Backend> make_backend(BackendKind choice, const BackendConfig& config) {
    if (choice == BackendKind::automatic) {
        const char* env = std::getenv("PANTS_BACKEND");
        choice = parse_choice(env ? env : PANTS_DEFAULT_BACKEND);
    }
    if (choice == BackendKind::epoll) return std::make_unique<EpollBackend>(config);
#if PANTS_HAVE_URING
    auto uring = UringBackend::create(config);
    if (uring) return std::move(*uring);
    if (choice == BackendKind::io_uring)
        throw std::system_error(uring.error(), "pants: io_uring backend unavailable");
    // Containers often forbid io_uring (seccomp, kernel.io_uring_disabled):
    // say so once, then run on epoll.
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) {
        std::fprintf(stderr, "pants: io_uring unavailable (%s), using epoll\n",
                     uring.error().message().c_str());
    }
#else
    if (choice == BackendKind::io_uring)
        throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                                "pants: built without liburing");
#endif
    return std::make_unique<EpollBackend>(config);
}

}  // namespace pants::detail
