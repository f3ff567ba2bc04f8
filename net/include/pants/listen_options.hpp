// pants/listen_options.hpp: how a Server or a Datagram binds its port.
#pragma once

#include <optional>

namespace pants {

struct ListenOptions {
    /// Pending connections the kernel queues (Server only).
    int backlog = 1024;
    /// SO_REUSEPORT: every socket that sets it (one per engine) binds the
    /// same port, and the kernel spreads new connections, or datagrams by
    /// sender, across them. Unset: on when listening on an engine of a
    /// pants::Cluster, off otherwise.
    std::optional<bool> reuse_port;
};

namespace detail {
/// reuse_port as given, else whether the calling thread runs a Cluster's engine.
bool wants_reuse_port(const ListenOptions& options) noexcept;
}  // namespace detail

}  // namespace pants
