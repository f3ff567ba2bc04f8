// tests/seccomp_launcher.cpp: runs a test suite the way an old container
// profile would, to prove the fallbacks (issue 8.7).
//
//   seccomp_launcher --notices=N PROGRAM [ARGS...]
//
// It installs a seccomp filter (raw BPF, no libseccomp) under which
// epoll_pwait2 fails with ENOSYS (kernels before 5.11, valgrind, profiles
// written before it) and io_uring_setup fails with EPERM (Docker's default
// profile, kernel.io_uring_disabled), checks that both really fail that
// way, unsets PANTS_BACKEND so that the build's default (auto) decides, and
// runs PROGRAM under the filter. Its stderr is passed through and counted:
// the engine must say "io_uring unavailable ... using epoll" exactly N
// times (1 when the default backend is auto, 0 when it is epoll). The exit
// status is PROGRAM's, or 1 if the count is wrong or the filter failed.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

// The numbers are the same on every architecture since Linux 5.1 / 5.11;
// old headers may lack the names.
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_epoll_pwait2
#define __NR_epoll_pwait2 441
#endif

#if defined(__x86_64__)
#define PANTS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PANTS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define PANTS_AUDIT_ARCH AUDIT_ARCH_RISCV64
#endif

namespace {

constexpr std::string_view kNotice = "io_uring unavailable";

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "seccomp_launcher: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

void install_filter() {
#ifndef PANTS_AUDIT_ARCH
    std::fprintf(stderr, "seccomp_launcher: SKIP: no seccomp architecture constant for this CPU\n");
    std::exit(77);
#else
    sock_filter filter[] = {
        // A system call of another ABI (i386 or x32 on x86_64) has other
        // numbers: refuse it outright rather than match it wrongly.
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PANTS_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_epoll_pwait2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    // Unprivileged processes may install a filter only if they can never
    // gain privileges afterwards.
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("PR_SET_NO_NEW_PRIVS");
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
        if (errno == EINVAL) {
            std::fprintf(stderr, "seccomp_launcher: SKIP: this kernel has no seccomp filters\n");
            std::exit(77);
        }
        die("PR_SET_SECCOMP");
    }
#endif
}

// Without the filter, epoll_pwait2 on fd -1 fails with EBADF and
// io_uring_setup succeeds (or fails with EINVAL on odd arguments): only the
// filter gives these two errors.
void check_filter() {
    errno = 0;
    long r = ::syscall(__NR_epoll_pwait2, -1, nullptr, 1, nullptr, nullptr, 0);
    if (r != -1 || errno != ENOSYS) {
        std::fprintf(stderr, "seccomp_launcher: epoll_pwait2 gave %ld (%s), not ENOSYS\n", r, std::strerror(errno));
        std::exit(1);
    }
    io_uring_params params{};
    errno = 0;
    r = ::syscall(__NR_io_uring_setup, 4, &params);
    if (r >= 0) ::close(int(r));
    if (r != -1 || errno != EPERM) {
        std::fprintf(stderr, "seccomp_launcher: io_uring_setup gave %ld (%s), not EPERM\n", r, std::strerror(errno));
        std::exit(1);
    }
}

// Copies the child's stderr to ours; how many lines carried the notice.
int relay_stderr(int fd) {
    std::string pending;
    int notices = 0;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        [[maybe_unused]] auto w = ::write(STDERR_FILENO, buf, std::size_t(n));
        pending.append(buf, std::size_t(n));
        for (std::size_t end; (end = pending.find('\n')) != std::string::npos; pending.erase(0, end + 1))
            notices += std::string_view(pending).substr(0, end).find(kNotice) != std::string_view::npos;
    }
    notices += pending.find(kNotice) != std::string::npos;
    return notices;
}

}  // namespace

int main(int argc, char** argv) {
    constexpr std::string_view flag = "--notices=";
    if (argc < 3 || std::string_view(argv[1]).substr(0, flag.size()) != flag) {
        std::fprintf(stderr, "usage: seccomp_launcher --notices=N PROGRAM [ARGS...]\n");
        return 2;
    }
    const int expected = std::atoi(argv[1] + flag.size());

    install_filter();
    check_filter();
    ::unsetenv("PANTS_BACKEND");

    int err[2];
    if (::pipe2(err, O_CLOEXEC) != 0) die("pipe2");
    pid_t child = ::fork();
    if (child < 0) die("fork");
    if (child == 0) {
        ::dup2(err[1], STDERR_FILENO);
        ::execv(argv[2], argv + 2);
        std::fprintf(stderr, "seccomp_launcher: exec %s: %s\n", argv[2], std::strerror(errno));
        _exit(127);
    }
    ::close(err[1]);
    const int notices = relay_stderr(err[0]);
    ::close(err[0]);

    int status = 0;
    while (::waitpid(child, &status, 0) < 0)
        if (errno != EINTR) die("waitpid");
    if (WIFSIGNALED(status)) {
        std::fprintf(stderr, "seccomp_launcher: %s killed by signal %d\n", argv[2], WTERMSIG(status));
        return 1;
    }
    if (notices != expected) {
        std::fprintf(stderr, "seccomp_launcher: expected the \"%.*s\" notice %d time(s) on stderr, saw %d\n",
                     int(kNotice.size()), kNotice.data(), expected, notices);
        return 1;
    }
    return WEXITSTATUS(status);
}
