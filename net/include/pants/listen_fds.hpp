// pants/listen_fds.hpp: sockets passed by systemd socket activation.
//
//   pants::Server<Echo> server;
//   for (const auto& s : pants::listen_fds()) server.assign(s.fd);
//
// systemd (and compatible launchers: systemd-socket-activate, s6, ...)
// opens the listening sockets, starts the program with them as descriptors
// 3, 4, ... and says so in LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
// (sd_listen_fds(3)). Hand each to ServerBase::assign() (streams) or
// Datagram::assign() (datagrams).
#pragma once

#include <string>
#include <vector>

namespace pants {

/// One socket passed by the launcher.
struct ListenFd {
    int fd;            ///< 3, 4, ...
    std::string name;  ///< from LISTEN_FDNAMES (FileDescriptorName=), else "unknown"
};

/// The sockets passed to this process (empty when it was not started by
/// socket activation, or LISTEN_PID names another process). Marks them
/// close-on-exec and removes the three variables from the environment, so
/// that a child process does not take them too (as sd_listen_fds(1)).
/// Call it once, at start-up, before other threads run (it edits the
/// environment).
std::vector<ListenFd> listen_fds();

}  // namespace pants
