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
constexpr int kMaxEvents = 256;

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

void EpollBackend::OpQueue::push(Operation& op) noexcept {
    op.next = nullptr;
    if (tail)
        tail->next = &op;
    else
        head = &op;
    tail = &op;
}

Operation* EpollBackend::OpQueue::pop() noexcept {
    Operation* op = head;
    if (op) {
        head = op->next;
        if (!head) tail = nullptr;
        op->next = nullptr;
    }
    return op;
}

bool EpollBackend::OpQueue::remove(Operation& op) noexcept {
    Operation* prev = nullptr;
    for (Operation* p = head; p; prev = p, p = p->next) {
        if (p != &op) continue;
        (prev ? prev->next : head) = p->next;
        if (tail == p) tail = prev;
        p->next = nullptr;
        return true;
    }
    return false;
}

EpollBackend::EpollBackend(const BackendConfig& config)
    : pool_(config.buffer_count, config.buffer_size) {
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

void EpollBackend::grow(int fd) { fds_.resize(std::size_t(fd) * 2 + 16); }

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
    op.transferred = 0;
    FdState& s = state(op.fd);
    if (op.kind == OpKind::poll) op.transferred = 1;  // look at the fd's state first (run_watchers)
    if (!s.registered) {
        // Once per fd, for its whole life: both directions, edge-triggered.
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.fd = op.fd;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, op.fd, &ev) < 0 && errno != EEXIST) {
            // Not pollable (a regular file): the syscall itself never blocks.
        }
        s.registered = true;
        // Edges before this registration were not seen: assume ready.
        s.readable = s.writable = true;
        s.hung_up = false;
    }
    if (op.kind == OpKind::poll) {
        s.watchers.push(op);
        mark_dirty(op.fd);
        return;
    }
    const bool reader = is_reader(op);
    (reader ? s.readers : s.writers).push(op);
    // Tried this turn only if that direction may have room or data; else
    // its next edge brings it.
    if (reader ? s.readable : s.writable) mark_dirty(op.fd, s);
}

void EpollBackend::cancel(Operation& op) {
    if (!op.in_flight || op.cancelling) return;
    op.cancelling = true;
    FdState& s = state(op.fd);
    if (op.kind == OpKind::poll) {
        if (s.watchers.remove(op)) cancelled_.push(op);
        forget_if_unused(op.fd);
        return;
    }
    if ((is_reader(op) ? s.readers : s.writers).remove(op)) cancelled_.push(op);
}

// A descriptor from elsewhere that nothing here uses any more is taken out
// of the epoll set: its owner may close it, and a descriptor reusing the
// number must then be registered afresh.
void EpollBackend::forget_if_unused(int fd) {
    FdState& s = state(fd);
    if (!s.registered || s.readers.head || s.writers.head || s.watchers.head) return;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);  // EBADF if it is closed already: fine
    s.registered = false;
    s.ready = 0;
}

void EpollBackend::close(int fd) {
    if (std::size_t(fd) < fds_.size()) {
        FdState& s = fds_[std::size_t(fd)];
        for (OpQueue* q : {&s.readers, &s.writers, &s.watchers})
            while (Operation* op = q->pop()) {
                op->cancelling = true;
                cancelled_.push(*op);
            }
        if (s.registered) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        s.registered = false;
        s.dirty = false;  // a stale entry in dirty_ finds empty queues
        s.ready = 0;
        s.readable = s.writable = true;  // the number's next socket starts afresh
        s.hung_up = false;
    }
    ::close(fd);
}

void EpollBackend::recycle(std::uint16_t buffer_id) {
    returned();
    if (buffer_id & kDatagramBufferTag)
        dgram_pool_->give(std::uint16_t(buffer_id & ~kDatagramBufferTag));
    else
        pool_.give(buffer_id);
    if (!starved_.empty()) {
        for (int fd : starved_) mark_dirty(fd);
        starved_.clear();
    }
}

void EpollBackend::run_once(std::chrono::nanoseconds timeout) {
    const bool busy = !dirty_.empty() || cancelled_.head;
    if (busy) timeout = std::chrono::nanoseconds::zero();
    epoll_event events[kMaxEvents];
    int n = wait(events, kMaxEvents, timeout);
    for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake_fd_) {
            std::uint64_t value;
            [[maybe_unused]] auto r = ::read(wake_fd_, &value, sizeof value);
            continue;
        }
        FdState& s = state(fd);
        const std::uint32_t ev = events[i].events;
        s.ready |= ev;
        // Errors and hang-ups wake both directions: each op learns of it.
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.readable = true;
        if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.hung_up = true;
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s.writable = true;
        if (s.watchers.head || (s.readable && s.readers.head) || (s.writable && s.writers.head)) mark_dirty(fd, s);
    }

    while (Operation* op = cancelled_.pop()) dispatch(*op, Completion{-ECANCELED, false, nullptr, 0});

    // fds marked while these run (a send submitted from a handler) wait
    // in dirty_ for the next turn. Both vectors keep their capacity from
    // turn to turn (a local, not a member: a handler may run a nested turn).
    std::vector<int> running = std::exchange(dirty_, std::move(spare_));
    for (int fd : running) {
        FdState& s = state(fd);
        s.dirty = false;
        if (s.watchers.head)
            run_watchers(fd);
        else
            s.ready = 0;
        // Re-fetched after each step: handlers may have grown fds_.
        if (FdState& r = state(fd); r.readable && r.readers.head) run_queue(fd, true);
        if (FdState& w = state(fd); w.writable && w.writers.head) run_queue(fd, false);
    }
    running.clear();
    if (spare_.capacity() == 0) spare_ = std::move(running);
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
        Operation* op = q.head;
        if (!op || !ready) return;
        Completion c;
        switch (attempt(*op, c)) {
        case Attempt::blocked:
            ready = false;
            return;  // parked until the next edge
        case Attempt::again:
            starved_.push_back(fd);
            return;
        case Attempt::done:
            if (!c.more) q.pop();
            // A stream read that did not fill the buffer emptied the
            // socket: the next bytes bring an edge (libuv's partial read).
            if (op->kind == OpKind::receive && c.more && !s.hung_up && std::size_t(c.result) < pool_.size())
                ready = false;
            dispatch(*op, c);
            if (c.data) recycle(c.buffer_id);  // the handler has returned: the buffer is ours again
            break;
        }
    }
    mark_dirty(fd);  // budget spent: go on next turn
}

// Watchers hear of the events epoll reported since they last ran; a new
// one (or one armed again by modify()) asks poll(2) for the fd's state
// now, since the edge that made it ready may have come and gone unseen.
void EpollBackend::run_watchers(int fd) {
    const std::uint32_t ready = std::exchange(state(fd).ready, 0);
    if (!state(fd).watchers.head) return;
    // A snapshot: a callback may cancel watchers (they leave the queue)
    // or add new ones (those run next turn: the fd is marked again).
    watching_.clear();
    for (Operation* op = state(fd).watchers.head; op; op = op->next) watching_.push_back(op);
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
        if (!op.multishot) state(fd).watchers.remove(op);
        dispatch(op, Completion{int(events), op.multishot, nullptr, 0});
    }
}

EpollBackend::Attempt EpollBackend::attempt(Operation& op, Completion& c) {
    int r = 0;
    switch (op.kind) {
    case OpKind::receive:
    case OpKind::receive_from:
        return attempt_receive(op, c);
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
    case OpKind::poll:
        return Attempt::blocked;  // never queued here: run_watchers
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

EpollBackend::Attempt EpollBackend::attempt_receive(Operation& op, Completion& c) {
    const bool datagrams = op.kind == OpKind::receive_from;
    if (datagrams && !dgram_pool_) dgram_pool_ = std::make_unique<BufferPool>(kDatagramBufferCount, kDatagramBufferSize);
    BufferPool& pool = datagrams ? *dgram_pool_ : pool_;
    std::uint16_t id;
    if (!pool.take(id)) return Attempt::again;
    char* buffer = pool.at(id);
    ssize_t r;
    c = Completion{};
    if (!datagrams) {
        r = ::recv(op.fd, buffer, pool.size(), 0);
    } else {
        // Leave the room io_uring's multishot takes for its header and the
        // name, so that both backends cut a datagram at the same size.
        const std::size_t overhead = datagram_overhead(*op.msg);
        iovec iov{buffer, pool.size() > overhead ? pool.size() - overhead : 0};
        msghdr msg{};
        msg.msg_name = &name_;
        msg.msg_namelen = sizeof name_;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        r = ::recvmsg(op.fd, &msg, MSG_DONTWAIT);
        c.from = reinterpret_cast<const sockaddr*>(&name_);
        c.from_size = std::min<socklen_t>(msg.msg_namelen, sizeof name_);
        c.truncated = msg.msg_flags & MSG_TRUNC;
    }
    // An empty datagram is a datagram; an empty stream read is its end.
    if (r > 0 || (r == 0 && op.kind == OpKind::receive_from)) {
        c.result = int(r);
        c.more = true;
        c.data = buffer;
        c.buffer_id = datagrams ? std::uint16_t(id | kDatagramBufferTag) : id;
        return Attempt::done;
    }
    int err = errno;
    pool.give(id);
    if (r < 0 && (err == EAGAIN || err == EWOULDBLOCK)) return Attempt::blocked;
    c = Completion{r == 0 ? 0 : -err, false, nullptr, 0};
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
