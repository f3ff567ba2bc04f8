#include <pants/server.hpp>

#include <unistd.h>

#include <cstdio>

#include "listener_io.hpp"
#include "server_shutdown.hpp"
#include "socket.hpp"
#include "stream_io.hpp"

namespace pants {

namespace detail {

AcceptContext& accept_context() noexcept {
    thread_local AcceptContext ctx;
    return ctx;
}

}  // namespace detail

Connection::Connection()
    : Stream(detail::accept_context().engine ? *detail::accept_context().engine : Engine::instance(),
             detail::AcceptedSocket{detail::accept_context().fd}),
      server_(detail::accept_context().server) {}

ServerBase::ServerBase(Engine& engine) : engine_(&engine) {}

ServerBase::~ServerBase() {
    // Subclasses call close() in their destructor; this is the backstop.
    listen_notice_.cancel();
    drop_listener();
    if (acceptor_) acceptor_->leave(member_);
    // Owned connections die with the server; the others are only let go.
    connections_.clear([](detail::ChannelIo& io, bool owned) {
        if (owned) delete &stream_of(io);
    });
    if (shutdown_)  // coroutines waiting for the shutdown learn the server is gone
        while (detail::Waiter* w = shutdown_->waiters.front())
            shutdown_->waiters.resume_later(*w, make_error_code(NetError::closed));
}

void ServerBase::drop_listener() noexcept {
    // The listener finishes closing (and frees itself) without us.
    if (listener_) std::exchange(listener_, nullptr)->abandon();
}

Result<void> ServerBase::listen(std::uint16_t port, std::string_view host, int backlog) {
    return listen(port, host, ListenOptions{backlog, {}});
}

Result<void> ServerBase::listen(std::uint16_t port, std::string_view host, const ListenOptions& options) {
    if (host.empty()) {
        // Dual stack where the machine has IPv6.
        if (auto r = listen(Address::ipv6_any(port), options); r || r.error() != std::errc::address_family_not_supported)
            return r;
        return listen(Address::ipv4_any(port), options);
    }
    if (host == "localhost") return listen(Address::loopback_v4(port), options);
    auto address = Address::from_ip(host, port);
    if (!address) return unexpected(address.error());
    return listen(*address, options);
}

Result<void> ServerBase::listen(const Address& address, int backlog) {
    return listen(address, ListenOptions{backlog, {}});
}

Result<void> ServerBase::listen(const Address& address, const ListenOptions& options) {
    if (listening()) return fail(EISCONN);
    auto fd = detail::open_listener(address, options.backlog, detail::wants_reuse_port(options));
    if (!fd) {
        // Also through on_error: a server whose listen() result is ignored
        // must not sit there silently not listening.
        on_error(fd.error());
        return unexpected(fd.error());
    }
    drop_listener();  // a closed one from an earlier listen()
    listener_ = new detail::ListenerIo(*engine_, this, *fd);
    listen_started();
    return ok();
}

Result<void> ServerBase::listen(SharedAcceptor& acceptor) {
    if (listening() || acceptor_) return fail(EISCONN);
    int accept_fd = -1;
    member_ = acceptor.join(*this, *engine_, accept_fd);
    acceptor_ = &acceptor;
    if (accept_fd >= 0) {
        drop_listener();
        listener_ = new detail::ListenerIo(*engine_, this, accept_fd);
        listen_started();
    }
    return ok();
}

void ServerBase::accepted(int fd) {
    if (acceptor_)
        acceptor_->dispatch(fd);
    else
        adopt(fd);
}

void ServerBase::adopt_handed(int fd) {
    member_->pending.fetch_sub(1, std::memory_order_relaxed);
    if (shutting_down()) {  // sent before our shutdown began: refuse it as a closed listener would
        close_unowned(fd);
        return;
    }
    try {
        adopt(fd);
    } catch (...) {
        // As an accept whose wrapping threw: adopt() closed the socket if no
        // Stream took it, and the error goes to the engine's handler.
        engine_->report(std::current_exception());
    }
}

void ServerBase::listen_started() {
    // On a later turn, never inside listen(); not at all if closed by then.
    listen_notice_ = engine_->callback([this] {
        if (listening()) on_listen();
    });
}

void ServerBase::close() {
    if (listener_) listener_->close();
    for (Stream* s : connections()) s->close();
}

bool ServerBase::listening() const noexcept { return listener_ && !listener_->closing(); }

Result<Address> ServerBase::local_address() const {
    if (!listening()) return fail(EBADF);
    return detail::local_address(listener_->fd);
}

std::vector<Stream*> ServerBase::connections() const {
    std::vector<Stream*> out;
    out.reserve(connections_.size());
    for_each_connection([&](Stream& s) { out.push_back(&s); });
    return out;
}

void ServerBase::own(std::unique_ptr<Stream> stream) {
    Stream* s = stream.release();  // freed by Connections::finished(), or with the server
    connections_.add(s->io(), true);
    if (member_) member_->open.store(long(connections_.size()), std::memory_order_relaxed);
    s->io().start_receiving();
}

void ServerBase::track(Stream& stream) {
    connections_.add(stream.io(), false);
    if (member_) member_->open.store(long(connections_.size()), std::memory_order_relaxed);
}

Stream& ServerBase::stream_of(detail::ChannelIo& io) noexcept { return *static_cast<detail::StreamIo&>(io).owner; }

void ServerBase::Connections::finished(detail::ChannelIo& io, bool owns_owner) noexcept {
    // An abandoned channel has no owner any more; one the server owns is
    // never abandoned while linked (only the server frees it).
    server_.forget(owns_owner ? &stream_of(io) : nullptr);
}

void ServerBase::forget(Stream* owned) noexcept {
    std::unique_ptr<Stream> free_last(owned);  // after its on_close, and after the bookkeeping
    if (member_) member_->open.store(long(connections_.size()), std::memory_order_relaxed);
    if (shutdown_) maybe_finish_shutdown();
}

void ServerBase::close_unowned(int fd) noexcept { ::close(fd); }

void ServerBase::announce(Stream& connection) {
    if (start_tls_) return start_tls_(connection);  // both come after its handshake
    // As after a handshake: a throw from either is reported and the
    // connection goes on (on_accept still follows on_connect).
    connection.io().announce_connected();
    connection.io().call_user([&] { on_accept(connection); });
}

void ServerBase::on_accept(Stream&) {}
void ServerBase::on_listen() {}
void ServerBase::on_close() {}
void ServerBase::on_error(std::error_code error) {
    std::fprintf(stderr, "pants: server: %s\n", error.message().c_str());
}

// --- Server<void> -------------------------------------------------------------

void Server<void>::adopt(int fd) {
    auto stream = std::make_unique<Stream>(engine(), detail::AcceptedSocket{fd});
    track(*stream);
    if (start_tls_)
        start_tls_(*stream);  // on_accept after its handshake
    else
        stream->io().call_user([&] { on_accept(*stream); });  // a throw still leaves it to the handler
    if (handler_) {
        engine().spawn(serve(handler_, std::move(stream)));
        return;
    }
    listener()->queue_accepted(std::move(stream));
}

Task<> Server<void>::serve(Handler handler, std::unique_ptr<Stream> stream) {
    stream->io().start_receiving();
    // A TLS connection is handed over once its handshake is done; a failed
    // one was reported to on_tls_error and is closing.
    if (stream->tls()) {
        Result<void> shaken = co_await stream->handshake();
        if (!shaken) co_return;
    }
    co_await handler(*stream);
    stream->end();
    // The Stream dies with this frame; its I/O state finishes the close.
}

bool Server<void>::AcceptAwaiter::await_ready() const noexcept {
    return !listener_ || listener_->has_accepted() || listener_->closing();
}

bool Server<void>::AcceptAwaiter::suspend(std::coroutine_handle<> h, detail::CancelState* cancel) {
    return wait(listener_->readers, h, cancel);
}

Result<std::unique_ptr<Stream>> Server<void>::AcceptAwaiter::await_resume() {
    if (error()) return unexpected(error());
    auto s = listener_ ? listener_->take_accepted() : nullptr;
    if (!s) return unexpected(make_error_code(NetError::closed));
    s->io().start_receiving();
    return s;
}

}  // namespace pants
