#include <pants/server.hpp>

#include <unistd.h>

#include <cstdio>

#include "socket.hpp"
#include "stream_io.hpp"

namespace pants {

namespace detail {

/// The listener's accept, on the heap so that it can outlive its Server
/// until the kernel gives it back.
struct AcceptOp : Operation {
    AcceptOp(ServerBase* s, Backend& b) : Operation(&AcceptOp::complete), server(s), backend(b) {
        kind = OpKind::accept;
    }
    static void complete(Operation& op, const Completion& c) {
        auto& self = static_cast<AcceptOp&>(op);
        if (self.server) return self.server->accepted(c.result, c.more);
        if (c.result >= 0) ::close(c.result);  // the server is gone
        if (!c.more) self.release();
    }
    /// Closes the listener (through the backend, which may track the fd)
    /// and frees this.
    void release() {
        backend.close(fd);
        delete this;
    }
    /// The server is going away: stop, and free this once the kernel is done.
    void abandon() {
        server = nullptr;
        if (in_flight)
            backend.cancel(*this);
        else
            release();
    }
    ServerBase* server;
    Backend& backend;
};

AcceptContext& accept_context() noexcept {
    thread_local AcceptContext ctx;
    return ctx;
}

}  // namespace detail

namespace {

// How long to wait before accepting again after running out of descriptors.
constexpr auto kBackoff = std::chrono::milliseconds(50);

bool is_shortage(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

// accept(2) errors that concern one connection, not the listener.
bool is_transient(int err) {
    return err == ECONNABORTED || err == EPROTO || err == EPERM || err == EINTR || err == EAGAIN ||
           err == ENETDOWN || err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
           err == EOPNOTSUPP || err == ENETUNREACH;
}

}  // namespace

Connection::Connection()
    : Stream(detail::accept_context().engine ? *detail::accept_context().engine : Engine::instance(),
             detail::accept_context().fd),
      server_(detail::accept_context().server) {}

ServerBase::ServerBase(Engine& engine) : engine_(&engine) {}

ServerBase::~ServerBase() {
    // Subclasses call close() in their destructor; this is the backstop.
    backoff_.cancel();
    if (accept_) accept_->abandon();
    for (auto& [stream, owned] : connections_) stream->io().on_finished = nullptr;
}

Result<void> ServerBase::listen(std::uint16_t port, std::string_view host, int backlog) {
    if (host.empty()) {
        // Dual stack where the machine has IPv6.
        if (auto r = listen(Address::ipv6_any(port), backlog); r || r.error() != std::errc::address_family_not_supported)
            return r;
        return listen(Address::ipv4_any(port), backlog);
    }
    if (host == "localhost") return listen(Address::loopback_v4(port), backlog);
    auto address = Address::from_ip(host, port);
    if (!address) return unexpected(address.error());
    return listen(*address, backlog);
}

Result<void> ServerBase::listen(const Address& address, int backlog) {
    if (fd_ >= 0) return fail(EISCONN);
    auto fd = detail::open_listener(address, backlog);
    if (!fd) {
        // Also through on_error: a server whose listen() result is ignored
        // must not sit there silently not listening.
        on_error(fd.error());
        return unexpected(fd.error());
    }
    fd_ = *fd;
    accept_ = new detail::AcceptOp(this, engine_->backend());
    accept_->fd = fd_;
    arm();
    return ok();
}

void ServerBase::arm() {
    if (accept_ && !accept_->in_flight) engine_->backend().submit(*accept_);
}

void ServerBase::accepted(int result, bool more) {
    if (result >= 0) {
        try {
            adopt(result);
        } catch (...) {
            engine_->report(std::current_exception());
        }
    } else if (result != -ECANCELED && !is_shortage(-result) && !is_transient(-result)) {
        // The listener itself is broken (EBADF, EINVAL, ...): retrying
        // would only spin. Report it and stop accepting.
        on_error(errno_code(-result));
        return;
    }
    if (more || !accept_ || fd_ < 0) return;
    if (result == -ECANCELED && accept_->cancelling) return;
    // The accept ended: at once, or after a pause when descriptors ran out
    // (accepting again at once would fail again and spin).
    if (result < 0 && is_shortage(-result))
        backoff_ = engine_->defer(kBackoff, [this] { arm(); });
    else
        arm();
}

void ServerBase::close() {
    backoff_.cancel();
    const bool was_listening = fd_ >= 0;
    if (accept_) std::exchange(accept_, nullptr)->abandon();  // closes fd_ once drained
    fd_ = -1;
    for (Stream* s : connections()) s->close();
    if (was_listening) {
        stopped();
        on_close();
    }
}

bool ServerBase::listening() const noexcept { return fd_ >= 0; }

Result<Address> ServerBase::local_address() const { return detail::local_address(fd_); }

std::vector<Stream*> ServerBase::connections() const {
    std::vector<Stream*> out;
    out.reserve(connections_.size());
    for (auto& [stream, owned] : connections_)
        if (!stream->closing()) out.push_back(stream);
    return out;
}

void ServerBase::own(std::unique_ptr<Stream> stream) {
    Stream* s = stream.get();
    connections_.emplace(s, std::move(stream));
    s->io().on_finished = [this, s] { forget(s); };
    s->io().start_receiving();
}

void ServerBase::track(Stream& stream) {
    connections_.emplace(&stream, nullptr);
    stream.io().on_finished = [this, s = &stream] { forget(s); };
}

void ServerBase::forget(Stream* stream) noexcept {
    auto it = connections_.find(stream);
    if (it == connections_.end()) return;
    auto owned = std::move(it->second);
    connections_.erase(it);
    // `owned` dies here: the Stream is freed after its on_close.
}

void ServerBase::close_unowned(int fd) noexcept { ::close(fd); }

void ServerBase::on_accept(Stream&) {}
void ServerBase::on_close() {}
void ServerBase::on_error(std::error_code error) {
    std::fprintf(stderr, "pants: server: %s\n", error.message().c_str());
}

// --- Server<void> -------------------------------------------------------------

void Server<void>::adopt(int fd) {
    auto stream = std::make_unique<Stream>(engine(), fd);
    track(*stream);
    on_accept(*stream);
    if (handler_) {
        engine().spawn(serve(handler_, std::move(stream)));
        return;
    }
    accepted_.push_back(std::move(stream));
    wake_acceptor();
}

Task<> Server<void>::serve(Handler handler, std::unique_ptr<Stream> stream) {
    stream->io().start_receiving();
    co_await handler(*stream);
    stream->end();
    // The Stream dies with this frame; its I/O state finishes the close.
}

void Server<void>::wake_acceptor() {
    if (auto* a = std::exchange(acceptor_, nullptr)) {
        if (a->cancel_) a->cancel_->clear();
        a->waiter_.resume();
    }
}

bool Server<void>::AcceptAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    waiter_ = h;
    cancel_ = cancel;
    if (cancel_ && cancel_->requested()) {
        cancelled_ = true;
        return false;
    }
    server_.acceptor_ = this;
    if (cancel_) cancel_->on_request(&AcceptAwaiter::on_cancel, this);
    return true;
}

void Server<void>::AcceptAwaiter::on_cancel(void* self) noexcept {
    auto* a = static_cast<AcceptAwaiter*>(self);
    if (a->server_.acceptor_ != a) return;
    a->server_.acceptor_ = nullptr;
    a->cancelled_ = true;
    a->server_.engine().callback([a] { a->waiter_.resume(); });
}

Result<std::unique_ptr<Stream>> Server<void>::AcceptAwaiter::await_resume() {
    if (cancelled_) return fail(ECANCELED);
    if (server_.accepted_.empty()) return unexpected(make_error_code(NetError::closed));
    auto s = std::move(server_.accepted_.front());
    server_.accepted_.erase(server_.accepted_.begin());
    s->io().start_receiving();
    return s;
}

}  // namespace pants
