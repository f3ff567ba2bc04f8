// pants/server.hpp: listening sockets that accept Streams.
//
//   pants::Server<Echo> server;        // each connection is a new Echo
//   pants::Server server(handler);     // each connection runs handler(stream)
//
// A Server owns its connections: it creates each one on accept and frees it
// after its on_close(); the user never deletes them. close() stops
// listening and closes every connection; the server's on_close() follows on
// a later turn, and coroutines waiting in accept() resume then with
// NetError::closed. Destroying a Server closes the listener and frees
// every connection (without their on_close: call close() first for that).
// Servers accept with multishot accept on io_uring; when the process runs
// out of file descriptors (EMFILE) they back off and resume instead of
// spinning.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <type_traits>
#include <vector>

#include <pants/address.hpp>
#include <pants/detail/channel_list.hpp>
#include <pants/detail/waiter.hpp>
#include <pants/engine.hpp>
#include <pants/listen_options.hpp>
#include <pants/shared_acceptor.hpp>
#include <pants/stream.hpp>
#include <pants/task.hpp>

namespace pants {

namespace detail {
class ListenerIo;
struct ServerShutdown;
}

/// What every Server<...> shares: the listener and the set of connections.
class ServerBase {
public:
    explicit ServerBase(Engine& engine);
    ServerBase(const ServerBase&) = delete;
    ServerBase& operator=(const ServerBase&) = delete;
    virtual ~ServerBase();

    /// Listens on `port` of `host` ("" = every interface, IPv6 and IPv4;
    /// "localhost" or an IP literal). Port 0 picks a free port.
    Result<void> listen(std::uint16_t port, std::string_view host = "", int backlog = 1024);
    /// Listens on an address: IP and port, or a Unix socket path.
    Result<void> listen(const Address& address, int backlog = 1024);
    /// The same with options (SO_REUSEPORT: see ListenOptions).
    Result<void> listen(const Address& address, const ListenOptions& options);
    Result<void> listen(std::uint16_t port, std::string_view host, const ListenOptions& options);
    /// Joins a SharedAcceptor: connections come from it, to whichever of
    /// its Servers has the fewest (the first to join accepts for all, and
    /// only it is listening()).
    Result<void> listen(SharedAcceptor& acceptor);
    /// Stops listening and closes every connection.
    void close();

    // --- graceful shutdown (net/server_shutdown.cpp) ---------------------
    class ShutdownAwaiter;
    /// Stops accepting and end()s every connection (each sends what it has
    /// queued, then closes); when all have closed, or once `deadline` has
    /// passed (the rest are then close()d and awaited), calls `done` on a
    /// later turn. Called again while under way, it adds `done` and keeps
    /// the earlier of the two deadlines.
    void shutdown(Engine::Duration deadline, std::function<void()> done);
    /// The same, started now; `co_await` the result to wait until every
    /// connection is gone (NetError::closed if the server is destroyed first).
    ShutdownAwaiter shutdown(Engine::Duration deadline);
    /// True from shutdown() until it is done.
    bool shutting_down() const noexcept;

    bool listening() const noexcept;
    /// Where it listens (the real port after listen(0)).
    Result<Address> local_address() const;
    /// The open connections (a new vector: see for_each_connection()).
    std::vector<Stream*> connections() const;
    Engine& engine() const noexcept { return *engine_; }

    /// Called with each accepted connection, after its on_connect().
    virtual void on_accept(Stream& connection);
    /// Called once listen() or assign() succeeded, on a later turn.
    virtual void on_listen();
    /// Called when the server has stopped listening (a later turn than close()).
    virtual void on_close();
    /// listen() failed, or accept() failed in a way that is not a transient
    /// shortage. Default: one line on stderr.
    virtual void on_error(std::error_code error);

    /// Serves TLS (pants/tls.hpp) on every connection accepted from now
    /// on: its handshake comes first, then its on_connect() and the
    /// server's on_accept() (a coroutine handler starts after it). A
    /// failed handshake gives that connection on_tls_error(), then
    /// on_close(); the server goes on.
    void set_tls(const tls::Context& context);

protected:
    /// Wraps an accepted socket (Server<C> builds a C).
    virtual void adopt(int fd) = 0;
    /// Registers a connection the server owns.
    void own(std::unique_ptr<Stream> stream);
    /// Closes an accepted socket no Stream has taken.
    static void close_unowned(int fd) noexcept;
    /// Registers a connection owned elsewhere (a coroutine handler).
    void track(Stream& stream);
    /// The new connection's on_connect(), then on_accept(): now, or after
    /// its TLS handshake (set_tls()).
    void announce(Stream& connection);
    /// Starts a new connection's server-side TLS (set by set_tls()).
    std::function<void(Stream&)> start_tls_;

    /// The listener's I/O state, if listen() succeeded.
    detail::ListenerIo* listener() const noexcept { return listener_; }

private:
    friend class detail::ListenerIo;
    friend class SharedAcceptor;
    void drop_listener() noexcept;
    /// A socket the listener accepted: adopt it, or pass it to the acceptor.
    void accepted(int fd);
    /// A socket a SharedAcceptor sent us.
    void adopt_handed(int fd);
    void begin_shutdown(Engine::Duration deadline);
    void arm_shutdown_deadline(Engine::Clock::time_point until);
    void maybe_finish_shutdown();
    /// A connection finished; `owned`: the one to free, if the server owns it.
    void forget(Stream* owned) noexcept;

    Engine* engine_;
    detail::ListenerIo* listener_ = nullptr;
    // The open connections, linked through their I/O state.
    class Connections final : public detail::ChannelList {
    public:
        explicit Connections(ServerBase& server) noexcept : server_(server) {}

    private:
        void finished(detail::ChannelIo& io, bool owns_owner) noexcept override;
        ServerBase& server_;
    };
    Connections connections_{*this};
    /// The Stream of a linked channel.
    static Stream& stream_of(detail::ChannelIo& io) noexcept;
    std::unique_ptr<detail::ServerShutdown> shutdown_;
    SharedAcceptor* acceptor_ = nullptr;
    std::shared_ptr<detail::AcceptorMember> member_;

public:
    /// What `co_await server.shutdown(deadline)` waits on.
    class ShutdownAwaiter : public detail::Waiter {
    public:
        explicit ShutdownAwaiter(ServerBase* server) noexcept : server_(server) {}
        bool await_ready() const noexcept;
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        Result<void> await_resume() const noexcept;

    private:
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        ServerBase* server_;
    };

    // --- issue 10: adopting a listener, on_listen, visiting connections ---
public:
    /// Listens on a socket made elsewhere: already bound and listening
    /// (systemd socket activation, see pants::listen_fds(), or inherited
    /// from a parent). Takes ownership, makes it non-blocking and starts
    /// accepting. ENOTSOCK / EINVAL when `fd` is not a listening stream
    /// socket (the fd is then left alone).
    Result<void> assign(int listening_fd);
    /// Calls f(Stream&) for each open connection, without allocating (an
    /// echo-to-all server calls it per message). f may write to or close
    /// connections.
    template <class F>
    void for_each_connection(F&& f) const {
        for (detail::ChannelIo* io = connections_.front(); io;) {
            Stream& s = stream_of(*io);
            io = detail::ChannelList::next(*io);  // f may close s
            if (!s.closing()) f(s);
        }
    }

private:
    void listen_started();
    Timer listen_notice_;
};

/// A Stream created by a Server. Subclass it and override the callbacks.
class Connection : public Stream {
public:
    /// Made by Server<C>; a Connection made elsewhere is a plain unconnected Stream.
    Connection();
    /// The server that accepted this connection (nullptr if none).
    ServerBase* server() const noexcept { return server_; }
    /// The same as your server class: `server<ChatServer>()->broadcast(x)`.
    /// nullptr if there is none or it is not a T (checked with dynamic_cast).
    template <class T>
    T* server() const noexcept {
        return dynamic_cast<T*>(server_);
    }

private:
    ServerBase* server_;
};

namespace detail {
/// Set by Server<C> while it constructs a connection (Connection()'s
/// default constructor reads it: C's constructor takes no arguments).
struct AcceptContext {
    Engine* engine = nullptr;
    int fd = -1;
    ServerBase* server = nullptr;
};
AcceptContext& accept_context() noexcept;
}  // namespace detail

/// A server whose connections are instances of ConnectionClass, or, for
/// Server<> / Server(handler), streams handed to a coroutine.
template <class ConnectionClass = void>
class Server : public ServerBase {
    static_assert(std::is_base_of_v<Connection, ConnectionClass>,
                  "Server<C>: C must derive from pants::Connection");

public:
    explicit Server(Engine& engine = Engine::instance()) : ServerBase(engine) {}
    ~Server() override { close(); }

protected:
    void adopt(int fd) override {
        auto& ctx = detail::accept_context();
        ctx = {&engine(), fd, this};
        std::unique_ptr<ConnectionClass> c;
        try {
            c = std::make_unique<ConnectionClass>();
        } catch (...) {
            ctx = {};
            // Thrown before the Stream took the socket (allocation, or C's
            // own constructor before its base): close it here.
            if (!c) close_unowned(fd);
            throw;
        }
        ctx = {};
        // Through the base class: C may override its callbacks in a
        // private: section, as `class Echo : public Connection { ... }` does.
        Stream& ref = *c;
        own(std::move(c));
        announce(ref);
    }

public:
    /// Calls f(ConnectionClass&) for each open connection, without
    /// allocating. f may write to or close connections.
    template <class F>
    void for_each_connection(F&& f) const {
        ServerBase::for_each_connection([&f](Stream& s) { f(static_cast<ConnectionClass&>(s)); });
    }
};

/// A server that runs `handler(stream)` for each connection; the stream is
/// ended when the handler returns.
template <>
class Server<void> : public ServerBase {
public:
    using Handler = std::function<Task<>(Stream&)>;
    explicit Server(Handler handler, Engine& engine = Engine::instance())
        : ServerBase(engine), handler_(std::move(handler)) {}
    ~Server() override { close(); }

    /// A server without a handler: take connections with accept().
    explicit Server(Engine& engine = Engine::instance()) : ServerBase(engine) {}

    /// What `co_await server.accept()` waits on. It points at the
    /// listener's I/O state, which outlives a Server destroyed meanwhile.
    class AcceptAwaiter : public detail::Waiter {
    public:
        explicit AcceptAwaiter(detail::ListenerIo* listener) noexcept : listener_(listener) {}
        bool await_ready() const noexcept;
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return suspend(h, detail::cancel_state_of(h));
        }
        /// The accepted stream (yours to keep), or an error once closed.
        Result<std::unique_ptr<Stream>> await_resume();

    private:
        bool suspend(std::coroutine_handle<> h, detail::CancelState* cancel);
        detail::ListenerIo* listener_;
    };

    /// The next accepted connection (for a server built without a handler).
    AcceptAwaiter accept() { return AcceptAwaiter(listener()); }

protected:
    void adopt(int fd) override;

private:
    static Task<> serve(Handler handler, std::unique_ptr<Stream> stream);
    Handler handler_;
};

Server(Task<> (*)(Stream&)) -> Server<void>;
Server(Task<> (*)(Stream&), Engine&) -> Server<void>;
template <class F>
Server(F) -> Server<void>;
template <class F>
Server(F, Engine&) -> Server<void>;

}  // namespace pants
