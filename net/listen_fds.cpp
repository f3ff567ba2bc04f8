// systemd socket activation: the protocol of sd_listen_fds(3).
#include <pants/listen_fds.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace pants {
namespace {

// sd_listen_fds(3): the first passed descriptor.
constexpr int kFirstListenFd = 3;

// A whole decimal number that fits an int, or -1.
int parse_count(const char* text) {
    if (!text || !*text) return -1;
    long value = 0;
    for (const char* p = text; *p; ++p) {
        if (*p < '0' || *p > '9') return -1;
        value = value * 10 + (*p - '0');
        if (value > 1 << 20) return -1;
    }
    return int(value);
}

}  // namespace

std::vector<ListenFd> listen_fds() {
    std::vector<ListenFd> out;
    const char* pid = std::getenv("LISTEN_PID");
    const char* fds = std::getenv("LISTEN_FDS");
    const char* names = std::getenv("LISTEN_FDNAMES");
    const int count = parse_count(fds);
    // The variables are for the process systemd started, not its children.
    if (pid && parse_count(pid) == int(::getpid()) && count > 0) {
        std::string_view rest = names ? names : "";
        for (int i = 0; i < count; ++i) {
            const int fd = kFirstListenFd + i;
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            std::string_view name = rest.substr(0, rest.find(':'));
            rest.remove_prefix(std::min(rest.size(), name.size() + 1));
            out.push_back({fd, name.empty() ? std::string("unknown") : std::string(name)});
        }
    }
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    return out;
}

}  // namespace pants
