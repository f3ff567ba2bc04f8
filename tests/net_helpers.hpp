// Shared by the network suites: a client that records what happens to it,
// and a deadline-bounded way to run an engine.
#pragma once

#include <doctest/doctest.h>

#include <pants/pants.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace test {

using namespace std::chrono_literals;

/// Runs `engine` until `done()`; fails the test if 20 s pass first.
template <class F>
void run_until(pants::Engine& engine, F done) {
    REQUIRE(engine.run_until(done, std::chrono::seconds(20)));
}

/// A client stream that records every callback.
struct Recorder : pants::Client {
    using pants::Client::Client;
    std::string got;
    std::vector<std::string> frames;
    std::vector<std::string> events;
    std::error_code error;
    int closes = 0;
    int writes_drained = 0;
    void on_connect() override { events.push_back("connect"); }
    void on_read(std::string_view d) override {
        got += d;
        frames.emplace_back(d);
    }
    void on_write() override { ++writes_drained; }
    void on_close() override {
        ++closes;
        events.push_back("close");
    }
    void on_connect_error(std::error_code e) override {
        error = e;
        events.push_back("connect_error");
    }
    void on_read_error(std::error_code e) override {
        error = e;
        events.push_back("read_error");
    }
    void on_write_error(std::error_code e) override {
        error = e;
        events.push_back("write_error");
    }
    void on_overflow_error(std::error_code e) override {
        error = e;
        events.push_back("overflow_error");
    }
};

/// The address a test server listens on: loopback, port 0.
/// Sets an environment variable for one scope (engines read it when built).
struct ScopedEnv {
    const char* name;
    ScopedEnv(const char* n, const char* value) : name(n) { ::setenv(n, value, 1); }
    ~ScopedEnv() { ::unsetenv(name); }
};

inline pants::Address loopback() { return pants::Address::loopback_v4(0); }

/// A port free on 127.0.0.1 a moment ago, for sockets of `type`
/// (SOCK_STREAM or SOCK_DGRAM): the kernel's pick for port 0. Another
/// process may take it before the caller binds it.
inline std::uint16_t free_loopback_port(int type = SOCK_STREAM) {
    const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    pants::Address a = loopback();
    REQUIRE(::bind(fd, a.data(), a.size()) == 0);
    socklen_t len = a.capacity();
    REQUIRE(::getsockname(fd, a.data(), &len) == 0);
    a.set_size(len);
    ::close(fd);
    return a.port();
}

/// True if ::1 can be bound here (a test that needs it REQUIREs it).
inline bool has_ipv6_loopback() {
    int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    pants::Address a = pants::Address::loopback_v6(0);
    const bool ok = ::bind(fd, a.data(), a.size()) == 0;
    ::close(fd);
    return ok;
}

/// A pattern of n bytes that shows misordering and loss.
inline std::string pattern(std::size_t n, unsigned seed = 1) {
    std::string s(n, '\0');
    unsigned x = seed;
    for (auto& c : s) {
        x = x * 1103515245u + 12345u;
        c = char(x >> 16);
    }
    return s;
}


// A raw loopback peer the test drives by hand (no threads, no sleeps).
struct RawPeer {
    int fd = -1;
    RawPeer() = default;
    RawPeer(RawPeer&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
    RawPeer(const RawPeer&) = delete;
    static RawPeer connect_to(const pants::Address& a) {
        RawPeer p;
        p.fd = ::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(::connect(p.fd, a.data(), a.size()) == 0);
        ::fcntl(p.fd, F_SETFL, O_NONBLOCK);
        return p;
    }
    ~RawPeer() {
        if (fd >= 0) ::close(fd);
    }
    void send(std::string_view d) { REQUIRE(::send(fd, d.data(), d.size(), MSG_NOSIGNAL) == ssize_t(d.size())); }
    // Reads what is there; returns false at EOF or error.
    bool drain(std::string& into, std::size_t max = std::size_t(-1)) {
        char buf[65536];
        while (max > 0) {
            ssize_t n = ::recv(fd, buf, std::min(sizeof buf, max), MSG_DONTWAIT);
            if (n > 0) {
                into.append(buf, std::size_t(n));
                max -= std::size_t(n);
                continue;
            }
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
        return true;
    }
    void reset() {
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(std::exchange(fd, -1));
    }
};


/// Reads from `peer` until the end of its stream, driving `engine`.
inline std::string read_to_end(pants::Engine& engine, RawPeer& peer) {
    std::string got;
    run_until(engine, [&] { return !peer.drain(got); });
    return got;
}

/// The process's open descriptors (for leak checks).
inline int count_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
    }
    return n - 1;  // the directory's own descriptor
}

/// A directory of its own under /tmp, removed with everything in it.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& name)
        : path(std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))) {
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    /// Writes `data` to a file in the directory; its path.
    std::string write(const std::string& name, std::string_view data) const {
        auto file = path / name;
        std::ofstream(file, std::ios::binary).write(data.data(), std::streamsize(data.size()));
        return file.string();
    }
};

}  // namespace test
