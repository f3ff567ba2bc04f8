#include "uring_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <system_error>
#include <utility>

#include <pants/detail/udp_gro.hpp>

namespace pants::detail {
namespace {

constexpr std::uint16_t kBufferGroup = 0;
constexpr std::uint16_t kDatagramGroup = 1;
static_assert(sizeof(io_uring_recvmsg_out) == 4 * sizeof(std::uint32_t), "see datagram_overhead");
constexpr unsigned kCompletionBatch = 256;
// A multishot receive's bytes, its subscription still armed.
constexpr unsigned kBufferAndMore = IORING_CQE_F_BUFFER | IORING_CQE_F_MORE;

// user_data of operations whose completion nobody waits for (cancels).
constexpr std::uint64_t kIgnored = 0;
// user_data of the CQE another engine's MSG_RING posts into this ring: it
// only has to end our wait. Operation addresses are even, so 1 is free, and
// a failed MSG_RING comes back to its sender as (target address | 1).
constexpr std::uint64_t kRingMessage = 1;

// user_data of a send_datagram() send: its slot, shifted past the bits an
// Operation's address (8-aligned) and kRingMessage use.
constexpr std::uint64_t kDetachedTag = 2;

std::uint64_t tag(Operation& op) { return reinterpret_cast<std::uintptr_t>(&op); }

// Set-up flags, best first. DEFER_TASKRUN (6.1) runs completion work only
// when we enter the kernel to wait, which is exactly once per turn;
// COOP_TASKRUN (5.19) at least avoids interrupting the thread with IPIs.
// SINGLE_ISSUER binds the ring to the first thread that submits; R_DISABLED
// defers that to the first loop turn, so an Engine may be built on one
// thread and run on another (Engine::instance() is built on first use).
constexpr unsigned kFlagLadder[] = {
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    IORING_SETUP_SUBMIT_ALL,
    0,
};

// What next_sqe() and run_once() assume of every ring we set up: 64-byte
// SQEs and 16-byte CQEs, and no kernel thread polling the submission queue
// (so its head moves only inside our io_uring_enter).
constexpr bool ladder_lacks(unsigned flags) {
    for (unsigned f : kFlagLadder)
        if (f & flags) return false;
    return true;
}
static_assert(ladder_lacks(IORING_SETUP_SQE128 | IORING_SETUP_CQE32 | IORING_SETUP_SQPOLL));

// Opcodes every operation kind needs; a kernel without one of them gets the
// epoll backend instead.
constexpr int kRequiredOps[] = {
    IORING_OP_ACCEPT, IORING_OP_RECV,    IORING_OP_SENDMSG, IORING_OP_RECVMSG,
    IORING_OP_CONNECT, IORING_OP_READ,   IORING_OP_ASYNC_CANCEL, IORING_OP_SPLICE,
    IORING_OP_PROVIDE_BUFFERS, IORING_OP_POLL_ADD,
};

// A test hook's environment variable is set, and not to "0".
bool env_flag(const char* name) {
    const char* v = std::getenv(name);
    return v && *v && *v != '0';
}

}  // namespace

UringBackend::UringBackend(const BackendConfig& config)
    : pool_(config.buffer_count, config.buffer_size) {}

Result<std::unique_ptr<UringBackend>> UringBackend::create(const BackendConfig& config) {
    // Test hook: behave as a kernel without io_uring (seccomp, old kernel).
    if (env_flag("PANTS_URING_SETUP_FAIL")) return fail(ENOSYS);
    std::unique_ptr<UringBackend> b(new UringBackend(config));
    if (auto r = b->init(config); !r) return unexpected(r.error());
    return b;
}

Result<void> UringBackend::init(const BackendConfig& config) {
    int err = EINVAL;
    for (unsigned entries = config.ring_entries; entries >= 16 && !ring_ready_; entries /= 2) {
        for (unsigned flags : kFlagLadder) {
            io_uring_params p{};
            p.flags = flags;
            err = -io_uring_queue_init_params(entries, &ring_, &p);
            if (err == 0) {
                ring_ready_ = true;
                setup_flags_ = flags;
                skip_success_ = p.features & IORING_FEAT_CQE_SKIP;
                break;
            }
            if (err != EINVAL) break;  // ENOMEM: try a smaller ring; others are final
        }
        if (err != ENOMEM && !ring_ready_) return fail(err);
    }
    if (!ring_ready_) return fail(err);

    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (!probe) return fail(ENOSYS);
    bool complete = true;
    for (int op : kRequiredOps) complete = complete && io_uring_opcode_supported(probe, op);
    // No opcode names multishot; IORING_OP_SOCKET came with multishot
    // accept (5.19) and IORING_OP_SEND_ZC with multishot recv (6.0).
    // Test hooks: behave as a kernel without multishot receives and
    // accepts (before 5.19), or without MSG_RING (before 5.18).
    const bool no_multishot = env_flag("PANTS_URING_NO_MULTISHOT");
    multishot_accept_ = io_uring_opcode_supported(probe, IORING_OP_SOCKET) && !no_multishot;
    multishot_recv_ = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) && !no_multishot;
    msg_ring_ = io_uring_opcode_supported(probe, IORING_OP_MSG_RING) && !env_flag("PANTS_URING_NO_MSG_RING");
    io_uring_free_probe(probe);
    if (!complete) return fail(ENOSYS);

    if (auto r = init_buffer_ring(); !r) return r;

    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return fail(errno);
    wake_op_.kind = OpKind::read;
    wake_op_.fd = wake_fd_;
    wake_op_.data = &wake_value_;
    wake_op_.size = sizeof wake_value_;
    prepare(wake_op_, next_sqe());  // internal: not counted as in flight
    return ok();
}

Result<void> UringBackend::init_buffer_ring() {
    provided_ = std::min(pool_.count(), kFirstProvided);
    auto r = register_buffers(pool_, kBufferGroup, buf_ring_bytes_, provided_);
    if (!r) return unexpected(r.error());
    buf_ring_ = *r;
    return ok();
}

void UringBackend::provide_more_buffers() {
    const unsigned more = std::min(provided_, pool_.count() - provided_);
    for (unsigned i = 0; i < more; ++i) recycle_stream_buffer(std::uint16_t(provided_ + i));
    provided_ += more;
}

// liburing 2.3 has no io_uring_setup_buf_ring: map and register it here.
Result<io_uring_buf_ring*> UringBackend::register_buffers(BufferPool& pool, std::uint16_t group, std::size_t& bytes,
                                                          unsigned provide) {
    bytes = sizeof(io_uring_buf) * pool.count();
    void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return fail(errno);
    auto* br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(mem);
    reg.ring_entries = pool.count();
    reg.bgid = group;
    if (int r = io_uring_register_buf_ring(&ring_, &reg, 0); r < 0) {
        ::munmap(mem, bytes);
        return fail(-r);
    }
    const int mask = io_uring_buf_ring_mask(pool.count());
    for (unsigned i = 0; i < provide; ++i)
        io_uring_buf_ring_add(br, pool.at(std::uint16_t(i)), pool.size(), std::uint16_t(i), mask, int(i));
    io_uring_buf_ring_advance(br, int(provide));
    return br;
}

void UringBackend::ensure_datagram_ring() {
    if (dgram_ring_) return;
    dgram_pool_ = std::make_unique<BufferPool>(kDatagramBufferCount, kDatagramBufferSize);
    auto r = register_buffers(*dgram_pool_, kDatagramGroup, dgram_ring_bytes_, dgram_pool_->count());
    if (!r) throw std::system_error(r.error(), "pants: io_uring datagram buffers");
    dgram_ring_ = *r;
}

char* UringBackend::buffer_at(std::uint16_t tagged_id) const noexcept {
    if (tagged_id & kDatagramBufferTag) return dgram_pool_->at(std::uint16_t(tagged_id & ~kDatagramBufferTag));
    return pool_.at(tagged_id);
}

UringBackend::~UringBackend() {
    // A registered fd needs no care here: on another thread the kernel
    // refuses io_uring_queue_exit's unregister (EEXIST, SINGLE_ISSUER),
    // and the registration goes when its thread exits.
    if (ring_ready_) io_uring_queue_exit(&ring_);  // the kernel cancels what is left
    if (buf_ring_) ::munmap(buf_ring_, buf_ring_bytes_);
    if (dgram_ring_) ::munmap(dgram_ring_, dgram_ring_bytes_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

inline io_uring_sqe* UringBackend::try_sqe() noexcept {
    // io_uring_get_sqe() without its SQE128 and SQPOLL cases (see
    // ladder_lacks): inline, one per send.
    io_uring_sq& sq = ring_.sq;
    const unsigned tail = sq.sqe_tail;
    if (tail - IO_URING_READ_ONCE(*sq.khead) >= sq.ring_entries) return nullptr;
    sq.sqe_tail = tail + 1;
    return &sq.sqes[tail & sq.ring_mask];
}

inline io_uring_sqe* UringBackend::next_sqe() {
    // The queue is rarely full.
    if (io_uring_sqe* sqe = try_sqe()) [[likely]]
        return sqe;
    return next_sqe_after_submit();
}

io_uring_sqe* UringBackend::next_sqe_after_submit() {
    // Queue full where nothing may enter the ring: until the next turn the
    // queue stays full, so every later SQE lands here too, behind this one.
    if (!can_turn_here() || (setup_flags_ & IORING_SETUP_R_DISABLED)) {
        chores_ |= kSubmitEarly;
        return &early_sqes_.emplace_back();
    }
    io_uring_sqe* sqe = nullptr;
    while (!sqe) {
        // Queue full: hand what we have to the kernel now, then go on.
        check_enter(io_uring_submit(&ring_));
        sqe = try_sqe();
    }
    return sqe;
}

bool UringBackend::can_turn_here() const noexcept {
    // SINGLE_ISSUER binds the ring to the thread of its first turn.
    return !(setup_flags_ & IORING_SETUP_SINGLE_ISSUER) || (setup_flags_ & IORING_SETUP_R_DISABLED) ||
           turn_thread_ == thread_tag();
}

void UringBackend::submit_early_sqes() {
    chores_ &= std::uint8_t(~kSubmitEarly);
    while (!early_sqes_.empty()) {
        *next_sqe() = early_sqes_.front();
        early_sqes_.pop_front();
    }
    std::deque<io_uring_sqe>().swap(early_sqes_);  // its blocks, too
}

int UringBackend::submit_and_wait_one() noexcept {
    // io_uring_submit_and_wait(&ring_, 1) without liburing's general path
    // (its SQPOLL and IOPOLL cases, and a second function to reach the
    // system call): a loop turn's one enter, about 15 instructions less.
    io_uring_sq& sq = ring_.sq;
    const unsigned tail = sq.sqe_tail;
    if (sq.sqe_head != tail) {
        sq.sqe_head = tail;
        io_uring_smp_store_release(sq.ktail, tail);  // the SQEs before the tail
    }
    const unsigned to_submit = tail - *sq.khead;
    // enable() registered the ring fd: enter_ring_fd is its index.
    const unsigned flags = enter_flags_;
#if defined(__x86_64__)
    // The system call itself, as liburing makes it (glibc's syscall()
    // costs a call, a shuffle of every argument and errno).
    long r;
    register long r10 asm("r10") = long(flags);
    register long r8 asm("r8") = 0;
    register long r9 asm("r9") = 0;
    asm volatile("syscall"
                 : "=a"(r)
                 : "0"(long(__NR_io_uring_enter)), "D"(long(ring_.enter_ring_fd)), "S"(long(to_submit)), "d"(1L),
                   "r"(r10), "r"(r8), "r"(r9)
                 : "rcx", "r11", "memory");
    return int(r);  // -errno on failure
#else
    const long r = ::syscall(__NR_io_uring_enter, ring_.enter_ring_fd, to_submit, 1u, flags, nullptr, 0);
    return r < 0 ? -errno : int(r);
#endif
}

void UringBackend::check_enter_failed(int result) {
    // Timeouts, signals and a full completion queue are ordinary; anything
    // else means no operation reaches the kernel, which must not go unseen.
    if (result == -ETIME || result == -EINTR || result == -EBUSY || result == -EAGAIN) return;
    if (result == -EEXIST)
        throw std::system_error(EEXIST, std::generic_category(),
                                "pants: an io_uring Engine was run from a second thread (one engine per thread)");
    throw std::system_error(-result, std::generic_category(), "pants: io_uring_enter");
}

void UringBackend::submit(Operation& op) {
    started(op);
    if (op.kind == OpKind::send) [[likely]] {  // the hot case: one per message written
        io_uring_sqe* sqe = next_sqe();
        io_uring_prep_sendmsg(sqe, op.fd, op.msg, MSG_NOSIGNAL);
        sqe->user_data = tag(op);
        return;
    }
    submit_other(op);
}

// Out of line, so that submit() keeps no registers for what sends never need.
void UringBackend::submit_other(Operation& op) {
    op.transferred = 0;
    op.in_pipe = 0;
    op.polling = false;
    if (op.kind == OpKind::receive_from) ensure_datagram_ring();  // before taking an SQE: it may throw
    prepare(op, next_sqe());
}

void UringBackend::prepare(Operation& op, io_uring_sqe* sqe) {
    switch (op.kind) {
    case OpKind::accept:
        if (multishot_accept_)
            io_uring_prep_multishot_accept(sqe, op.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        else
            io_uring_prep_accept(sqe, op.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case OpKind::receive:
        if (multishot_recv_)
            io_uring_prep_recv_multishot(sqe, op.fd, nullptr, 0, 0);
        else
            io_uring_prep_recv(sqe, op.fd, nullptr, pool_.size(), 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = kBufferGroup;
        break;
    case OpKind::receive_from:
        if (multishot_recv_) {
            io_uring_prep_recvmsg_multishot(sqe, op.fd, op.msg, 0);
        } else {
            // Single shot writes the sender's length back into msg_namelen,
            // and puts the payload at the buffer's start: cap it to the room
            // multishot leaves, so that both cut a datagram at the same size.
            // msg_controllen likewise (to what was used): restore the room.
            op.msg->msg_namelen = sizeof(sockaddr_storage);
            if (op.msg->msg_control) op.msg->msg_controllen = kDatagramControl;
            op.msg->msg_iov[0].iov_len = dgram_pool_->size() - datagram_overhead(*op.msg);
            io_uring_prep_recvmsg(sqe, op.fd, op.msg, 0);
        }
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = kDatagramGroup;
        break;
    case OpKind::read:
        io_uring_prep_read(sqe, op.fd, op.data, unsigned(op.size), std::uint64_t(-1));
        break;
    case OpKind::send:
        io_uring_prep_sendmsg(sqe, op.fd, op.msg, MSG_NOSIGNAL);
        break;
    case OpKind::recvmsg:
        io_uring_prep_recvmsg(sqe, op.fd, op.msg, 0);
        break;
    case OpKind::connect:
        io_uring_prep_connect(sqe, op.fd, op.address, op.address_size);
        break;
    case OpKind::poll:
        // Multishot poll (5.13) is older than the provided-buffer ring
        // (5.19) every ring here registers, so a watch always has it: a
        // single-shot poll armed again would be level-triggered.
        if (op.multishot)
            io_uring_prep_poll_multishot(sqe, op.fd, op.poll_events);
        else
            io_uring_prep_poll_add(sqe, op.fd, op.poll_events);
        break;
    case OpKind::sendfile:
        // io_uring has no sendfile: splice file -> pipe, then pipe -> socket.
        // A splice into a socket whose peer has gone raises SIGPIPE in the
        // task that runs it; io_uring always runs splice in an io-wq worker
        // (REQ_F_FORCE_ASYNC), whose signals are all blocked (kernel threads
        // before 5.12), so it never reaches the application. test_sigpipe
        // checks that this stays true.
        if (op.pipe_fds[0] < 0 && ::pipe2(op.pipe_fds, O_CLOEXEC) < 0) {
            io_uring_prep_nop(sqe);
            sqe->user_data = tag(op);
            op.in_pipe = std::size_t(-1);  // marks "pipe2 failed" for complete_sendfile
            return;
        }
        if (op.in_pipe == 0)
            io_uring_prep_splice(sqe, op.file_fd, std::int64_t(op.offset + op.transferred),
                                 op.pipe_fds[1], -1, unsigned(op.size - op.transferred), 0);
        else
            io_uring_prep_splice(sqe, op.pipe_fds[0], -1, op.fd, -1, unsigned(op.in_pipe), 0);
        break;
    }
    sqe->user_data = tag(op);
}

void UringBackend::cancel(Operation& op) {
    if (!op.in_flight || op.cancelling) return;
    op.cancelling = true;
    io_uring_sqe* sqe = next_sqe();
    io_uring_prep_cancel64(sqe, tag(op), 0);
    sqe->user_data = kIgnored;
}

void UringBackend::close(int fd) {
    // A datagram send_datagram() took for this fd and the kernel has not:
    // it goes now, by send(2), before the number can name another socket;
    // its SQE becomes a no-op. (Submitting the queue instead would enable
    // the ring on this thread before the first turn, or fail off the
    // ring's thread.) A failure here is not reported: the sink hears only
    // from completions, and its socket is closing.
    const unsigned taken = IO_URING_READ_ONCE(*ring_.sq.khead);
    for (unsigned i = 0; i < detached_count_; ++i) {
        DetachedSend& d = detached_[(detached_head_ + i) % kDetachedSlots];
        if (d.fd != fd || int(d.sqe - taken) < 0) continue;
        io_uring_sqe* sqe = &ring_.sq.sqes[d.sqe & ring_.sq.ring_mask];
        io_uring_prep_nop(sqe);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        sqe->user_data = kIgnored;
        d.fd = -1;
        d.sink = nullptr;
        [[maybe_unused]] const ssize_t sent = ::send(fd, d.bytes, d.size, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    ::close(fd);
}

void UringBackend::recycle(std::uint16_t buffer_id) {
    if (buffer_id & kDatagramBufferTag)
        return give_back(dgram_ring_, *dgram_pool_, std::uint16_t(buffer_id & ~kDatagramBufferTag));
    recycle_stream_buffer(buffer_id);
}

void UringBackend::do_chores() {
    if (chores_ & kSubmitEarly) submit_early_sqes();  // first: they are the oldest
    if (chores_ & kRearmStarved) rearm_starved();
    if (chores_ & kSettleSends) settle_detached();
}

void UringBackend::rearm_starved() {
    // Receives that ran dry get re-armed now that buffers are back.
    chores_ &= std::uint8_t(~kRearmStarved);
    std::vector<Operation*> starved;
    starved.swap(starved_);
    for (Operation* op : starved) {
        if (op->cancelling) {
            dispatch(*op, Completion{-ECANCELED, false, nullptr, 0});
        } else {
            prepare(*op, next_sqe());
        }
    }
}

void UringBackend::run_once(std::chrono::nanoseconds timeout) {
    // The first turn, or the first on another thread: one compare here.
    if (turn_thread_ != thread_tag()) [[unlikely]]
        adopt_thread();
    if (chores_) [[unlikely]]
        do_chores();
    if (timeout == std::chrono::nanoseconds::max()) {  // start(): the common case first
        check_enter(submit_and_wait_one());
    } else if (timeout.count() <= 0) {
        check_enter(io_uring_submit_and_get_events(&ring_));
    } else {
        io_uring_cqe* cqe = nullptr;
        __kernel_timespec ts{};
        ts.tv_sec = timeout.count() / 1'000'000'000;
        ts.tv_nsec = timeout.count() % 1'000'000'000;
        check_enter(io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr));
    }

    // One completion at a time: its slot is freed (the head advanced)
    // before its handler runs, so a handler that submits or cancels never
    // sees the queue mid-iteration. At most kCompletionBatch * 4 per turn,
    // so that a flood cannot starve timers and turn callbacks.
    // Head and tail are read afresh for each one: a handler may run a
    // nested turn (poll(), run_until()) that consumes completions itself.
    io_uring_cq& cq = ring_.cq;
    for (unsigned budget = kCompletionBatch * 4; budget > 0; --budget) {
        unsigned head = *cq.khead;
        if (head == io_uring_smp_load_acquire(cq.ktail)) break;
        {
            const io_uring_cqe& e = cq.cqes[head & cq.ring_mask];  // 16-byte CQEs: no IORING_SETUP_CQE32
            const std::uint64_t user_data = e.user_data;
            const int res = e.res;
            const unsigned flags = e.flags;
            io_uring_smp_store_release(cq.khead, ++head);
            if (user_data <= kRingMessage) continue;  // kIgnored, kRingMessage: nothing to run
            if (user_data & (1 | kDetachedTag)) [[unlikely]] {
                if (user_data & 1)
                    notify_failed(user_data);
                else
                    detached_failed(user_data, res);
                continue;
            }
            Operation& op = *reinterpret_cast<Operation*>(user_data);
            // The two completions of every echoed message, handled here
            // (what complete() would do for them): bytes from a multishot
            // stream receive that stays armed, and a send's result.
            if (op.kind == OpKind::receive && res > 0 && (flags & kBufferAndMore) == kBufferAndMore) {
                const auto id = std::uint16_t(flags >> IORING_CQE_BUFFER_SHIFT);
                dispatch(op, Completion{res, true, pool_.at(id), id});
                returned();
                recycle_stream_buffer(id);
            } else if (op.kind == OpKind::send) {
                dispatch(op, Completion{res, false, nullptr, 0});
            } else {
                complete(op, res, flags);
            }
        }
    }
}

void UringBackend::complete(Operation& op, int res, unsigned flags) {
    // run_once handled the hot cases (stream bytes, sends) already.
    if (&op == &wake_op_) {
        // The wake only had to end the wait; read the eventfd again.
        prepare(wake_op_, next_sqe());
        return;
    }
    switch (op.kind) {
    case OpKind::receive:
    case OpKind::receive_from:
        complete_receive(op, res, flags);
        return;
    case OpKind::sendfile:
        complete_sendfile(op, res);
        return;
    case OpKind::poll:
        if (!op.multishot) return dispatch(op, Completion{res, false, nullptr, 0});
        [[fallthrough]];  // a watch stays armed as a listener does
    case OpKind::accept: {
        bool more = flags & IORING_CQE_F_MORE;
        if (!more && res >= 0 && !op.cancelling) {
            // Single-shot accept (old kernel) or multishot ended early:
            // re-arm so the listener keeps accepting.
            prepare(op, next_sqe());
            more = true;
        }
        dispatch(op, Completion{res, more, nullptr, 0});
        return;
    }
    default:
        dispatch(op, Completion{res, bool(flags & IORING_CQE_F_MORE), nullptr, 0});
    }
}

void UringBackend::complete_receive(Operation& op, int res, unsigned flags) {
    const bool more = flags & IORING_CQE_F_MORE;
    if (flags & IORING_CQE_F_BUFFER) {
        auto id = std::uint16_t(flags >> IORING_CQE_BUFFER_SHIFT);
        if (op.kind == OpKind::receive_from) id = std::uint16_t(id | kDatagramBufferTag);  // kDatagramGroup
        // An empty datagram is a datagram; an empty stream read is its end.
        if (op.kind == OpKind::receive_from && res >= 0)
            return keep_armed(op, more, datagram(op, res, buffer_at(id), id));
        if (res > 0) return keep_armed(op, more, Completion{res, true, pool_.at(id), id});
        recycle(id);  // consumed by an end of stream or an error: nothing in it
    } else if (op.kind == OpKind::receive_from && res == 0) {
        // Single shot: an empty datagram takes no buffer.
        return keep_armed(op, more, datagram(op, 0, nullptr, 0));
    }
    if (res == -ENOBUFS && !op.cancelling) {
        // Every buffer is lent out: hand the kernel more of the pool if
        // some are still held back, else wait until channels give some back.
        if (op.kind != OpKind::receive_from && provided_ < pool_.count()) provide_more_buffers();
        if (!more) {
            starved_.push_back(&op);
            chores_ |= kRearmStarved;
        }
        return;
    }
    if (res == -ENOBUFS) res = -ECANCELED;
    if (more) return;  // a transient error inside a live multishot
    dispatch(op, Completion{res, false, nullptr, 0});
}

void UringBackend::keep_armed(Operation& op, bool more, const Completion& c) {
    // The subscription ends only with EOF, an error or a cancel: when the
    // kernel ends the multishot early (or never had it), arm it again.
    if (!more && !op.cancelling) prepare(op, next_sqe());
    const bool last = !more && op.cancelling;
    deliver(op, c);
    if (last && op.in_flight) dispatch(op, Completion{-ECANCELED, false, nullptr, 0});
}

DatagramCompletion UringBackend::datagram(Operation& op, int res, char* buffer, std::uint16_t id) {
    DatagramCompletion c{{res, true, buffer, id}};
    if (!multishot_recv_) {
        // Single shot: the payload starts the buffer and the name is in
        // op.msg, which the re-armed recvmsg may overwrite: copy it out.
        c.from_size = std::min<socklen_t>(op.msg->msg_namelen, sizeof name_);
        std::memcpy(&name_, op.msg->msg_name, c.from_size);
        c.from = reinterpret_cast<const sockaddr*>(&name_);
        c.truncated = received_cut(op.msg->msg_flags, op.msg->msg_control != nullptr);
        c.segment_size = gro_segment_size(*op.msg);
        return c;
    }
    // Multishot: io_uring_recvmsg_out, the name, then the payload.
    io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buffer, res, op.msg);
    if (!out) {  // a buffer too small for even the header and the name
        c.result = 0;
        c.truncated = true;
        return c;
    }
    c.data = static_cast<char*>(io_uring_recvmsg_payload(out, op.msg));
    c.result = int(io_uring_recvmsg_payload_length(out, res, op.msg));
    c.from = static_cast<const sockaddr*>(io_uring_recvmsg_name(out));
    c.from_size = std::min(out->namelen, op.msg->msg_namelen);
    c.truncated = received_cut(int(out->flags), op.msg->msg_controllen != 0) || out->payloadlen > unsigned(c.result);
    if (op.msg->msg_controllen) {
        // The control data follows the name (io_uring_recvmsg_cmsg_firsthdr).
        msghdr control{};
        control.msg_control = static_cast<char*>(io_uring_recvmsg_name(out)) + op.msg->msg_namelen;
        control.msg_controllen = out->controllen;
        c.segment_size = gro_segment_size(control);
    }
    return c;
}

void UringBackend::complete_sendfile(Operation& op, int res) {
    auto finish = [&](int result) {
        for (int& fd : op.pipe_fds)
            if (fd >= 0) ::close(std::exchange(fd, -1));
        dispatch(op, Completion{result, false, nullptr, 0});
    };
    if (op.in_pipe == std::size_t(-1)) return finish(-EMFILE);
    if (std::exchange(op.polling, false)) {
        // The socket has room again (or the wait was cancelled).
        if (res < 0 || op.cancelling) return finish(op.transferred > 0 ? int(op.transferred) : res);
        return prepare(op, next_sqe());
    }
    if (res == -EAGAIN && op.in_pipe > 0 && !op.cancelling) {
        // The socket is non-blocking and io_uring does not poll-arm splice:
        // wait for POLLOUT ourselves, keeping what sits in the pipe.
        op.polling = true;
        io_uring_sqe* sqe = next_sqe();
        io_uring_prep_poll_add(sqe, op.fd, POLLOUT);
        sqe->user_data = tag(op);
        return;
    }
    if (res < 0) return finish(op.transferred > 0 ? int(op.transferred) : res);
    if (op.in_pipe == 0) {
        if (res == 0 || op.cancelling) return finish(int(op.transferred));  // end of file
        op.in_pipe = std::size_t(res);
    } else {
        op.in_pipe -= std::size_t(res);
        op.transferred += std::size_t(res);
        if (op.in_pipe == 0 && (op.transferred == op.size || op.cancelling))
            return finish(int(op.transferred));
    }
    prepare(op, next_sqe());
}

// --- datagrams sent without an Operation --------------------------------------

int UringBackend::send_datagram(int fd, std::string_view data, DatagramSendSink& sink) noexcept {
    if (!skip_success_ || data.size() > kDetachedBytes || detached_count_ == kDetachedSlots)
        return Backend::send_datagram(fd, data, sink);
    if (!detached_) {
        detached_.reset(new (std::nothrow) DetachedSend[kDetachedSlots]);
        if (!detached_) return Backend::send_datagram(fd, data, sink);
    }
    io_uring_sqe* sqe = try_sqe();
    if (!sqe) return Backend::send_datagram(fd, data, sink);  // queue full: not worth an early submit
    const unsigned slot = (detached_head_ + detached_count_++) % kDetachedSlots;
    chores_ |= kSettleSends;
    DetachedSend& d = detached_[slot];
    d.sink = &sink;
    d.sqe = ring_.sq.sqe_tail - 1;
    d.fd = fd;
    d.size = std::uint16_t(data.size());
    std::memcpy(d.bytes, data.data(), data.size());
    // MSG_DONTWAIT: issued once, inside the enter (REQ_F_NOWAIT: EAGAIN is
    // its result, not a reason to wait for room); a failure still posts
    // a completion, a success none. The slot's lifetime rests on that,
    // and on no SQE of this ring being linked (IOSQE_IO_LINK), drained
    // (IOSQE_IO_DRAIN) or forced async (IOSQE_ASYNC): any of those could
    // run the send after its slot is reused.
    io_uring_prep_send(sqe, fd, d.bytes, d.size, MSG_DONTWAIT | MSG_NOSIGNAL);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    sqe->user_data = std::uint64_t(slot) << 3 | kDetachedTag;
    sent_at_once();
    return 0;
}

void UringBackend::forget(DatagramSendSink& sink) noexcept {
    for (unsigned i = 0; i < detached_count_; ++i) {
        DetachedSend& d = detached_[(detached_head_ + i) % kDetachedSlots];
        if (d.sink == &sink) d.sink = nullptr;
    }
}

void UringBackend::detached_failed(std::uint64_t user_data, int res) noexcept {
    DetachedSend& d = detached_[user_data >> 3];
    DatagramSendSink* sink = std::exchange(d.sink, nullptr);
    if (!sink) return;
    try {
        sink->datagram_send_failed(res, std::string_view(d.bytes, d.size));
    } catch (...) {
        report(std::current_exception());
    }
}

// Frees the slots whose sends are over: the kernel took their SQEs (and so
// ran them, posting any failure at once), and every completion posted so
// far has been handled, none held back in the overflow list.
void UringBackend::settle_detached() noexcept {
    io_uring_cq& cq = ring_.cq;
    if (*cq.khead != io_uring_smp_load_acquire(cq.ktail)) return;
    if (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW) return;
    const unsigned taken = IO_URING_READ_ONCE(*ring_.sq.khead);
    while (detached_count_ != 0 && int(taken - detached_[detached_head_].sqe) > 0) {
        detached_head_ = (detached_head_ + 1) % kDetachedSlots;
        --detached_count_;
    }
    if (detached_count_ == 0) chores_ &= std::uint8_t(~kSettleSends);
}

void UringBackend::wake() noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

// --- cross-engine wake-ups -----------------------------------------------------

void UringBackend::notify(Backend& target) noexcept {
    auto* t = dynamic_cast<UringBackend*>(&target);
    if (!msg_ring_ || !t || !t->msg_ring_) return target.wake();
    io_uring_sqe* sqe = try_sqe();
    if (!sqe) return target.wake();  // queue full: not worth an early submit
    // A CQE in the target's ring ends its wait; success posts nothing here.
    io_uring_prep_msg_ring(sqe, t->ring_.ring_fd, 0, kRingMessage, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    sqe->user_data = reinterpret_cast<std::uintptr_t>(t) | 1;
    notifications_queued_ = true;
}

void UringBackend::flush_notifications() {
    if (!std::exchange(notifications_queued_, false)) return;
    enable();
    check_enter(io_uring_submit(&ring_));
}

void UringBackend::notify_failed(std::uint64_t user_data) noexcept {
    // The target's ring refused (still disabled before its first turn:
    // EBADFD; or its queue overflowed): wake it the ordinary way.
    reinterpret_cast<UringBackend*>(user_data & ~std::uint64_t(1))->wake();
}

}  // namespace pants::detail
