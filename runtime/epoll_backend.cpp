#include "epoll_backend.hpp"
#include "sigpipe_guard.hpp"

#include <sys/epoll.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <system_error>

namespace pants::detail {
namespace {

// Operations one fd may complete per turn before others get their go.
constexpr int kFairnessBudget = 16;
// Events per epoll_wait, so per turn. Each stream written in a turn holds
// an output block until the turn's flush, and the engine's pool then keeps
// those blocks warm, each with its written first page resident: 256
// events a turn left up to 256 such pages: 1 MiB per engine, a fixed
// cost, but bench/idle_memory.sh's bytes per connection at 10,000 went
// from 528-606 to 497-504 with 32. The bound is soft (writes to other
// streams, nested turns), and it costs one more epoll_wait per 32 ready
// streams (50 conns: 2.021 -> 2.032 system calls and 385 -> 387
// instructions per message).
constexpr int kMaxEvents = 32;

// Set once epoll_pwait2 has failed with ENOSYS or EPERM: seccomp filters and
// kernels are per process, so every engine uses epoll_wait from then on.
std::atomic<bool> pwait2_missing{false};

// epoll_wait's timeout: whole milliseconds, rounded up so that a timer is
// never fired early (and a wait of 1 ns never becomes a busy 0 ms loop);
// -1 waits for ever; longer than INT_MAX ms waits INT_MAX ms, and the
// engine simply waits again.
int wait_milliseconds(std::chrono::nanoseconds timeout) noexcept {
    if (timeout == std::chrono::nanoseconds::max()) return -1;
    if (timeout.count() <= 0) return 0;
    const auto ms = (timeout.count() - 1) / 1'000'000 + 1;
    return ms > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max() : int(ms);
}

// A signal interrupting the wait is a turn with no events; anything else
// (EBADF, EFAULT, EINVAL) is a broken backend that must not spin silently.
int checked_wait(int n) {
    if (n >= 0) return n;
    if (errno == EINTR) return 0;
    throw std::system_error(errno, std::generic_category(), "pants: epoll wait");
}

}  // namespace

EpollBackend::EpollBackend(const BackendConfig& config)
    : pool_(config.buffer_count, config.buffer_size) {
    sends_at_once_ = true;
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll set-up");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.fd = wake_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

EpollBackend::~EpollBackend() {
    ::close(wake_fd_);
    ::close(epoll_fd_);
}

void EpollBackend::grow(int fd) {
    // A quarter more than needed rather than double: a server with many
    // connections pays for every slot (growing is rare either way).
    const std::size_t size = std::size_t(fd) + std::size_t(fd) / 4 + 64;
    fds_.reserve(size);
    fds_.resize(size);
}

bool EpollBackend::is_reader(const Operation& op) noexcept {
    switch (op.kind) {
    case OpKind::accept:
    case OpKind::receive:
    case OpKind::receive_from:
    case OpKind::read:
    case OpKind::recvmsg:
        return true;
    default:
        return false;
    }
}

void EpollBackend::submit(Operation& op) {
    started(op);
    FdState& s = state(op.fd);
    if (!s.registered) add(op.fd, s);
    if (op.kind == OpKind::send && try_send_now(op, s)) return;
    op.transferred = 0;  // connect: not tried yet
    if (op.kind == OpKind::poll) {
        op.transferred = 1;  // look at the fd's state first (run_watchers)
        s.watchers.push(op);
        mark_dirty(op.fd, s);
        return;
    }
    const bool reader = is_reader(op);
    (reader ? s.readers : s.writers).push(op);
    // Tried after the next wait only if that direction may have room or
    // data; else its next edge brings it.
    if (reader ? s.readable : s.writable) mark_dirty(op.fd, s);
}

// Once per fd, for its whole life: both directions, edge-triggered. The
// generation in the upper half of the data tells a stale event (on_event).
void EpollBackend::add(int fd, FdState& s) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = std::uint64_t(s.generation) << 32 | std::uint32_t(fd);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0 && errno != EEXIST) {
        // Not pollable (a regular file): the syscall itself never blocks.
    }
    s.registered = true;
    // Edges before this registration were not seen: assume ready.
    s.readable = s.writable = true;
    s.hung_up = false;
}

// The send goes now, while the bytes are hot and the socket most likely has
// room, instead of parking until the next turn's epoll_wait says so (libuv's
// uv_try_write): the result is delivered by the next run_once(), which then
// needs no system call of its own. Only when no writer waits ahead of it
// (order) and the last attempt did not hear EAGAIN (else only an edge helps).
bool EpollBackend::try_send_now(Operation& op, FdState& s) {
    if (!s.writable || !s.writers.empty()) return false;
    const ssize_t r = ::sendmsg(op.fd, op.msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        s.writable = false;
        return false;
    }
    finish(op, r < 0 ? -errno : int(r));
    return true;
}

// A stream's flush, straight to the kernel: no Operation, and no turn to
// deliver its result (the caller has it at once). The same conditions as
// try_send_now(), and a socket not yet in the epoll set is left to
// submit(), which registers it.
int EpollBackend::send_now(int fd, const iovec* iov, int count) noexcept {
    // In bytes, the test that fd has a slot needs no division by
    // sizeof(FdState) (as size() would).
    if (std::size_t(fd) * sizeof(FdState) >= fds_.size() * sizeof(FdState)) return -EAGAIN;
    FdState* const s = &fds_[std::size_t(fd)];
    if (!s->writable || !s->writers.empty() || !s->registered) return -EAGAIN;
    if (count != 1) return send_gathered(fd, iov, count);
    // One block (every echoed message): no msghdr to fill.
    const ssize_t r = ::send(fd, iov->iov_base, iov->iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r >= 0) {
        sent_at_once();
        return int(r);
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        s->writable = false;  // parked from here: only an edge helps
        return -EAGAIN;
    }
    sent_at_once();
    return -errno;
}

// send_now() of several blocks, apart so that the one-block path does not
// pay for the msghdr's frame.
[[gnu::noinline]] int EpollBackend::send_gathered(int fd, const iovec* iov, int count) noexcept {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = std::size_t(count);
    const ssize_t r = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        fds_[std::size_t(fd)].writable = false;
        return -EAGAIN;
    }
    sent_at_once();
    return r >= 0 ? int(r) : -errno;
}

void EpollBackend::finish(Operation& op, int result) noexcept {
    op.transferred = std::uint32_t(result);
    finished_.push(op);
}

void EpollBackend::cancel(Operation& op) {
    if (!op.in_flight || op.cancelling) return;
    op.cancelling = true;
    // Not parked (its result is already in finished_): that result stands.
    FdState& s = state(op.fd);
    if (op.kind == OpKind::poll) {
        if (s.watchers.remove(op)) finish(op, -ECANCELED);
        forget_if_unused(op.fd);
        return;
    }
    if ((is_reader(op) ? s.readers : s.writers).remove(op)) finish(op, -ECANCELED);
}

// A descriptor from elsewhere that nothing here uses any more is taken out
// of the epoll set: its owner may close it, and a descriptor reusing the
// number must then be registered afresh.
void EpollBackend::forget_if_unused(int fd) {
    FdState& s = state(fd);
    if (!s.registered || !s.readers.empty() || !s.writers.empty() || !s.watchers.empty()) return;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);  // EBADF if it is closed already: fine
    s.registered = false;
    s.ready = 0;
    ++s.generation;
}

void EpollBackend::close(int fd) {
    if (std::size_t(fd) < fds_.size()) {
        FdState& s = fds_[std::size_t(fd)];
        for (OpQueue* q : {&s.readers, &s.writers, &s.watchers})
            while (Operation* op = q->pop()) {
                op->cancelling = true;
                finish(*op, -ECANCELED);
            }
        if (s.registered) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        s.registered = false;
        s.dirty = false;  // a stale entry in dirty_ finds empty queues
        s.ready = 0;
        s.readable = s.writable = true;  // the number's next socket starts afresh
        s.hung_up = false;
        ++s.generation;
    }
    ::close(fd);
}

void EpollBackend::recycle(std::uint16_t buffer_id) {
    returned();
    if (buffer_id & kDatagramBufferTag)
        dgram_pool_->give(std::uint16_t(buffer_id & ~kDatagramBufferTag));
    else
        pool_.give(buffer_id);
}

// At the end of a turn, when every handler has returned its buffer: looked
// at once per turn rather than at each buffer given back (once per message).
void EpollBackend::wake_starved() {
    if (!starved_streams_.empty() && !pool_.exhausted()) {
        for (int fd : starved_streams_) mark_dirty(fd);
        starved_streams_.clear();
    }
    if (!starved_datagrams_.empty() && !dgram_pool_->exhausted()) {
        for (int fd : starved_datagrams_) mark_dirty(fd);
        starved_datagrams_.clear();
    }
}

void EpollBackend::run_once(std::chrono::nanoseconds timeout) {
    if (!finished_.empty() && !skipped_wait_) {
        // Results already known (sends made in submit(), cancellations)
        // need no epoll_wait to be delivered: skipping it saves a system
        // call per echoed message. Every other turn at most, so that a
        // stream of them never keeps new readiness unseen. Nothing else
        // runs: parked queues and watchers go on after a wait.
        skipped_wait_ = true;
        return deliver_finished();
    }
    skipped_wait_ = false;
    if (!finished_.empty() || !dirty_.empty()) timeout = std::chrono::nanoseconds::zero();
    wait_and_run(timeout);
}

// The hot path, kept in one function: stream bytes from recv() straight to
// the handler, in a buffer lent for the handler's call. Inline in its two
// callers (on_event's one of them): no frame of its own per event.
[[gnu::always_inline]] inline void EpollBackend::receive_stream(int fd, Operation& op) {
    for (int budget = kFairnessBudget; budget > 0; --budget) {
        std::uint16_t id;
        if (!pool_.take(id)) {
            starved_streams_.push_back(fd);  // the turn's end marks it when one comes back
            return;
        }
        char* buffer = pool_.at(id);
        const ssize_t r = ::recv(fd, buffer, pool_.size(), 0);
        if (r <= 0) {
            const int err = r < 0 ? errno : 0;
            pool_.give(id);
            FdState& s = fds_[std::size_t(fd)];
            if (err == EAGAIN || err == EWOULDBLOCK) {
                s.readable = false;  // parked until the next edge
                return;
            }
            s.readers.pop();  // the end of the stream, or its error: op is done
            dispatch(op, Completion{-err, false, nullptr, 0});
            if (!fds_[std::size_t(fd)].readers.empty()) mark_dirty(fd);  // readers behind it
            return;
        }
        // A read that did not fill the buffer emptied the socket: the next
        // bytes bring an edge (libuv's partial read). Not after a hang-up:
        // the end of the stream waits behind the data and brings no edge.
        if (FdState& s = fds_[std::size_t(fd)]; std::size_t(r) < pool_.size() && !s.hung_up) s.readable = false;
        dispatch(op, Completion{int(r), true, buffer, id});
        // The handler has returned: the buffer is ours again (recycle(),
        // inline).
        returned();
        pool_.give(id);
        // Re-fetched: the handler may have grown fds_, cancelled op or closed fd.
        const FdState& s = fds_[std::size_t(fd)];
        if (!s.readable || s.readers.front() != &op) return;
    }
    mark_dirty(fd);  // budget spent: go on next turn
}

// Inline in wait_and_run(): once per event.
[[gnu::always_inline]] inline void EpollBackend::on_event(const epoll_event& event, std::vector<int>& running) {
    const int fd = int(std::uint32_t(event.data.u64));
    if (fd == wake_fd_) {
        std::uint64_t value;
        [[maybe_unused]] auto r = ::read(wake_fd_, &value, sizeof value);
        return;
    }
    FdState& s = fds_[std::size_t(fd)];
    // A handler earlier in this batch closed the fd (its number may name a
    // new socket by now): what epoll said about the old one is moot.
    if (s.generation != std::uint32_t(event.data.u64 >> 32)) return;
    const std::uint32_t ev = event.events;
    // Errors and hang-ups wake both directions: each op learns of it.
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.readable = true;
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.hung_up = true;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s.writable = true;
    if (!s.watchers.empty()) {
        // Watchers run after this pass (run_watchers), this turn.
        s.ready |= ev;
        if (!s.dirty) {
            s.dirty = true;
            running.push_back(fd);
        }
    }
    if (s.readable && !s.readers.empty()) {
        if (s.readers.front()->kind == OpKind::receive)
            receive_stream(fd, *s.readers.front());  // the hot path, without run_queue's steps
        else
            run_queue(fd, true);
    }
    // Re-fetched: handlers may have grown fds_.
    if (FdState& w = fds_[std::size_t(fd)]; w.writable && !w.writers.empty()) run_queue(fd, false);
}

// Apart from run_once so that a turn which skips the wait does not pay for
// this one's frame (the event array).
void EpollBackend::wait_and_run(std::chrono::nanoseconds timeout) {
    epoll_event events[kMaxEvents];
    const int n = wait(events, kMaxEvents, timeout);
    // The fds marked before the wait run after the events; those marked by
    // this turn's handlers wait for the next turn, after the next wait: a
    // new watcher's first look (poll(2)) must come after the epoll_wait
    // that reports the fd's state at registration, or it would hear of
    // the same bytes twice. Both vectors keep their capacity from turn to
    // turn (a local, not a member: a handler may run a nested turn).
    std::vector<int> running;
    if (!dirty_.empty()) running = std::exchange(dirty_, std::move(spare_));
    if (!finished_.empty()) deliver_finished();
    // One pass: each fd's parked operations run as its event is read.
    for (int i = 0; i < n; ++i) on_event(events[i], running);
    if (!running.empty()) {
        run_dirty(running);
        running.clear();
        if (spare_.capacity() == 0) spare_ = std::move(running);
    }
    if (!starved_streams_.empty() || !starved_datagrams_.empty()) [[unlikely]]
        wake_starved();
}

void EpollBackend::deliver_finished() {
    // This batch: what finishes while it is delivered waits for a later turn.
    OpQueue batch = std::exchange(finished_, OpQueue{});
    while (Operation* op = batch.pop()) {
        if (batches_ && op->kind == OpKind::receive_from) end_batches(*op);
        dispatch(*op, Completion{int(std::uint32_t(op->transferred)), false, nullptr, 0});
    }
}

void EpollBackend::run_dirty(const std::vector<int>& running) {
    for (int fd : running) {
        FdState& s = state(fd);
        if (!s.dirty) continue;  // closed since it was marked, or run already
        s.dirty = false;
        if (!s.watchers.empty())
            run_watchers(fd);
        else
            s.ready = 0;
        // Re-fetched after each step: handlers may have grown fds_.
        if (FdState& r = state(fd); r.readable && !r.readers.empty()) run_queue(fd, true);
        if (FdState& w = state(fd); w.writable && !w.writers.empty()) run_queue(fd, false);
    }
}

int EpollBackend::wait(epoll_event* events, int capacity, std::chrono::nanoseconds timeout) {
    int n;
    if (!pwait2_missing.load(std::memory_order_relaxed)) {
        timespec ts{};
        const timespec* until = &ts;
        if (timeout == std::chrono::nanoseconds::max()) {
            until = nullptr;
        } else if (timeout.count() > 0) {
            ts.tv_sec = timeout.count() / 1'000'000'000;
            ts.tv_nsec = timeout.count() % 1'000'000'000;
        }
        n = ::epoll_pwait2(epoll_fd_, events, capacity, until, nullptr);
        // epoll_pwait2 is Linux 5.11; older kernels, seccomp profiles written
        // before it (EPERM or ENOSYS) and valgrind reject it. Remember, for
        // every engine of the process, and use epoll_wait from now on.
        if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return checked_wait(n);
        pwait2_missing.store(true, std::memory_order_relaxed);
    }
    return checked_wait(::epoll_wait(epoll_fd_, events, capacity, wait_milliseconds(timeout)));
}

void EpollBackend::run_queue(int fd, bool readers) {
    for (int budget = kFairnessBudget; budget > 0; --budget) {
        // Re-fetch each time: a handler may add fds and grow fds_.
        FdState& s = fds_[std::size_t(fd)];
        OpQueue& q = readers ? s.readers : s.writers;
        bool& ready = readers ? s.readable : s.writable;
        Operation* op = q.front();
        if (!op || !ready) return;
        if (op->kind == OpKind::receive) return receive_stream(fd, *op);
        if (op->kind == OpKind::receive_from) {
            const int got = receive_datagrams(fd, *op, budget);
            if (got == 0) return;
            budget -= got - 1;  // and the loop's own decrement
            continue;
        }
        Completion c;
        if (attempt(*op, c) == Attempt::blocked) {
            ready = false;
            return;  // parked until the next edge
        }
        if (!c.more) q.pop();
        dispatch(*op, c);
    }
    mark_dirty(fd);  // budget spent: go on next turn
}

// Watchers hear of the events epoll reported since they last ran; a new
// one (or one armed again by modify()) asks poll(2) for the fd's state
// now, since the edge that made it ready may have come and gone unseen.
void EpollBackend::run_watchers(int fd) {
    const std::uint32_t ready = std::exchange(state(fd).ready, 0);
    if (state(fd).watchers.empty()) return;
    // A snapshot: a callback may cancel watchers (they leave the queue)
    // or add new ones (those run next turn: the fd is marked again).
    watching_.clear();
    const OpQueue& q = state(fd).watchers;
    for (Operation* op = q.front(); op; op = q.after(*op)) watching_.push_back(op);
    for (std::size_t i = 0; i < watching_.size(); ++i) {
        Operation& op = *watching_[i];
        // Cancelled by an earlier callback: its ECANCELED comes next turn.
        if (op.cancelling || !op.in_flight) continue;
        std::uint32_t events = ready;
        if (std::exchange(op.transferred, 0)) {
            pollfd p{fd, short(op.poll_events), 0};
            events = ::poll(&p, 1, 0) > 0 ? std::uint32_t(std::uint16_t(p.revents)) : 0;
        }
        events &= op.poll_events | EPOLLERR | EPOLLHUP;
        if (!events) continue;
        if (!op.multishot) {
            // A one-shot wait is over: as after a cancel, the descriptor
            // leaves the epoll set if nothing else here uses it.
            state(fd).watchers.remove(op);
            forget_if_unused(fd);
        }
        dispatch(op, Completion{int(events), op.multishot, nullptr, 0});
    }
}

EpollBackend::Attempt EpollBackend::attempt(Operation& op, Completion& c) {
    int r = 0;
    switch (op.kind) {
    case OpKind::connect:
        return attempt_connect(op, c);
    case OpKind::accept:
        r = ::accept4(op.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        c.more = r >= 0;  // a listener keeps accepting, as io_uring's multishot does
        break;
    case OpKind::read:
        r = int(::read(op.fd, op.data, op.size));
        break;
    case OpKind::send:
        r = int(::sendmsg(op.fd, op.msg, MSG_NOSIGNAL | MSG_DONTWAIT));
        break;
    case OpKind::recvmsg:
        r = int(::recvmsg(op.fd, op.msg, MSG_DONTWAIT));
        break;
    case OpKind::receive:
    case OpKind::receive_from:
    case OpKind::poll:
        return Attempt::blocked;  // never here: receive_stream, receive_datagrams, run_watchers
    case OpKind::sendfile: {
        off_t offset = off_t(op.offset);
        SigpipeGuard guard;  // sendfile has no MSG_NOSIGNAL
        r = int(::sendfile(op.fd, op.file_fd, &offset, op.size));
        guard.done(r);
        break;
    }
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Attempt::blocked;
    c.result = r < 0 ? -errno : r;
    return Attempt::done;
}

EpollBackend::Attempt EpollBackend::attempt_connect(Operation& op, Completion& c) {
    if (op.transferred == 0) {  // first try
        op.transferred = 1;
        if (::connect(op.fd, op.address, op.address_size) == 0) {
            c.result = 0;
            return Attempt::done;
        }
        if (errno == EINPROGRESS) return Attempt::blocked;
        c.result = -errno;
        return Attempt::done;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0) {
        // Connected, or still in progress: connect() again tells which.
        if (::connect(op.fd, op.address, op.address_size) == 0 || errno == EISCONN) {
            c.result = 0;
            return Attempt::done;
        }
        if (errno == EALREADY || errno == EINPROGRESS) return Attempt::blocked;
        err = errno;
    }
    c.result = -err;
    return Attempt::done;
}

void EpollBackend::wake() noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

}  // namespace pants::detail
