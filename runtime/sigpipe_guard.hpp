// runtime/sigpipe_guard.hpp: a write that must not raise SIGPIPE.
//
// send() and sendmsg() take MSG_NOSIGNAL; sendfile(), splice() and write()
// have no such flag, and on a socket or pipe whose reader has gone they
// raise SIGPIPE, which kills a process that left it at SIG_DFL. A library
// must not change the application's disposition, so the guard blocks
// SIGPIPE in this thread for the duration of one call and, if the call
// failed with EPIPE, takes back the signal it raised (sigtimedwait with a
// zero timeout) before restoring the mask. A SIGPIPE that was already
// pending (the application had it blocked) is left alone: the kernel does
// not queue a second one of a standard signal. The kernel sends these
// SIGPIPEs to the calling thread, which is what makes the idiom exact.
#pragma once

#include <signal.h>

#include <cerrno>
#include <ctime>

namespace pants::detail {

class SigpipeGuard {
public:
    SigpipeGuard() noexcept {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigemptyset(&pending);
        ::sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        if (was_pending_) return;
        sigset_t old;
        ::pthread_sigmask(SIG_BLOCK, &pipe_, &old);
        unblock_ = sigismember(&old, SIGPIPE) == 0;
    }
    SigpipeGuard(const SigpipeGuard&) = delete;
    SigpipeGuard& operator=(const SigpipeGuard&) = delete;

    /// Call right after the guarded call, before anything touches errno.
    /// Keeps errno as it found it.
    void done(long result) noexcept {
        if (was_pending_ || result >= 0 || errno != EPIPE) return;
        const int saved = errno;
        const timespec zero{};
        while (::sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
        }
        errno = saved;
    }

    ~SigpipeGuard() {
        if (unblock_) {
            const int saved = errno;
            ::pthread_sigmask(SIG_UNBLOCK, &pipe_, nullptr);
            errno = saved;
        }
    }

private:
    sigset_t pipe_;
    bool was_pending_ = false;
    bool unblock_ = false;
};

}  // namespace pants::detail
