// pants/shared_acceptor.hpp: one listening socket whose connections go to
// the least-loaded of the Servers that share it.
//
//   pants::SharedAcceptor acceptor;             // before the cluster runs
//   acceptor.listen(pants::Address::ipv4_any(4000));
//   cluster.run([&](pants::Engine& engine) {
//       auto server = std::make_unique<pants::Server<Echo>>(engine);
//       server->listen(acceptor);               // one Server per engine
//       return server;
//   });
//
// The alternative to SO_REUSEPORT for uneven loads: the kernel's hash
// spreads connections evenly in number, not in work. The first Server to
// join accepts, on its engine; each new socket is posted to the engine of
// the Server with the fewest open connections (counting those on their
// way), which wraps it as if it had accepted it. When the accepting Server
// closes or goes away, the shared port stops accepting; the others keep
// their connections. The acceptor must outlive the Servers that joined it.
// Any thread may call listen(); the rest happens on the engines' threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include <pants/address.hpp>
#include <pants/result.hpp>

namespace pants {

class Engine;
class ServerBase;

namespace detail {
/// A Server's membership in a SharedAcceptor (shared by the threads).
struct AcceptorMember {
    ServerBase* server = nullptr;   // null once it left: sockets sent to it are closed
    Engine* engine = nullptr;
    std::atomic<long> open{0};      // its connections
    std::atomic<long> pending{0};   // sockets posted to it, not yet wrapped
    long load() const noexcept { return open.load(std::memory_order_relaxed) + pending.load(std::memory_order_relaxed); }
    std::atomic<std::size_t> handed{0};  // sockets ever posted to it
};
}  // namespace detail

class SharedAcceptor {
public:
    SharedAcceptor() = default;
    SharedAcceptor(const SharedAcceptor&) = delete;
    SharedAcceptor& operator=(const SharedAcceptor&) = delete;
    ~SharedAcceptor();

    /// Opens the listening socket on `address` (port 0 picks one).
    Result<void> listen(const Address& address, int backlog = 1024);
    /// Where it listens.
    Result<Address> local_address() const;
    /// Sockets handed to each Server so far, in the order they joined.
    std::vector<std::size_t> shares() const;

private:
    friend class ServerBase;
    /// Adds a Server; returns the socket to accept on (a dup) for the first.
    std::shared_ptr<detail::AcceptorMember> join(ServerBase& server, Engine& engine, int& accept_fd);
    void leave(const std::shared_ptr<detail::AcceptorMember>& member) noexcept;
    /// On the accepting engine: sends `fd` to the least-loaded member.
    void dispatch(int fd);

    int fd_ = -1;
    mutable std::mutex mutex_;
    std::vector<std::shared_ptr<detail::AcceptorMember>> members_;
    bool accepting_ = false;
};

}  // namespace pants
