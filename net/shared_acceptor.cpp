// SharedAcceptor: one listener, connections posted to the least-loaded
// Server. See pants/shared_acceptor.hpp.
#include <pants/shared_acceptor.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include <pants/server.hpp>

#include "socket.hpp"

namespace pants {

SharedAcceptor::~SharedAcceptor() {
    if (fd_ >= 0) ::close(fd_);
}

Result<void> SharedAcceptor::listen(const Address& address, int backlog) {
    if (fd_ >= 0) return fail(EISCONN);
    auto fd = detail::open_listener(address, backlog);
    if (!fd) return unexpected(fd.error());
    fd_ = *fd;
    return ok();
}

Result<Address> SharedAcceptor::local_address() const {
    if (fd_ < 0) return fail(EBADF);
    return detail::local_address(fd_);
}

std::vector<std::size_t> SharedAcceptor::shares() const {
    std::lock_guard lock(mutex_);
    std::vector<std::size_t> out;
    for (auto& m : members_) out.push_back(m->handed.load(std::memory_order_relaxed));
    return out;
}

std::shared_ptr<detail::AcceptorMember> SharedAcceptor::join(ServerBase& server, Engine& engine, int& accept_fd) {
    auto m = std::make_shared<detail::AcceptorMember>();
    m->server = &server;
    m->engine = &engine;
    std::lock_guard lock(mutex_);
    accept_fd = -1;
    if (!accepting_ && fd_ >= 0) {
        // The accepting Server's listener owns (and closes) a copy.
        accept_fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
        if (accept_fd >= 0) accepting_ = true;
    }
    members_.push_back(m);
    return m;
}

void SharedAcceptor::leave(const std::shared_ptr<detail::AcceptorMember>& member) noexcept {
    std::lock_guard lock(mutex_);
    member->server = nullptr;  // posted sockets still on their way get closed
    std::erase(members_, member);
}

void SharedAcceptor::dispatch(int fd) {
    std::shared_ptr<detail::AcceptorMember> target;
    {
        std::lock_guard lock(mutex_);
        for (auto& m : members_)
            if (!target || m->load() < target->load()) target = m;
        if (target) {
            target->pending.fetch_add(1, std::memory_order_relaxed);
            target->handed.fetch_add(1, std::memory_order_relaxed);
        }
    }
    if (!target) {
        ::close(fd);
        return;
    }
    // Posted even to our own engine: the socket is wrapped on a turn of its
    // engine, never inside the accept completion that found it. A post that
    // never runs (its engine stopped first) still closes the socket.
    struct HandedSocket {
        int fd;
        explicit HandedSocket(int f) noexcept : fd(f) {}
        HandedSocket(HandedSocket&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
        HandedSocket(const HandedSocket&) = delete;
        ~HandedSocket() {
            if (fd >= 0) ::close(fd);
        }
    };
    target->engine->post([target, s = HandedSocket(fd)]() mutable {
        if (target->server) target->server->adopt_handed(std::exchange(s.fd, -1));
    });
}

}  // namespace pants
