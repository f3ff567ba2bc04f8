// runtime/epoll_backend.hpp: the epoll implementation of Backend.
//
// A fair comparison needs a good epoll: each fd is registered once,
// edge-triggered, and its readiness is kept on its own record. An operation
// tries its system call when that direction may be ready and parks on the
// fd only on EAGAIN; a send tries at once, in submit() (as libuv's
// uv_try_write), so an echo costs epoll_wait, recv and sendmsg and nothing
// more. Datagrams are taken up to 16 per recvmmsg (epoll_datagrams.cpp).
// Readiness runs the parked operations in one pass over the events.
// Completions still arrive only from run_once(), the same ones io_uring
// delivers, receive buffers included, so nothing above can tell them apart.
#pragma once

#include <sys/epoll.h>

#include <memory>
#include <vector>

#include <pants/detail/backend.hpp>

#include "buffer_pool.hpp"
#include "op_queue.hpp"

namespace pants::detail {

class EpollBackend final : public Backend {
public:
    explicit EpollBackend(const BackendConfig& config);
    ~EpollBackend() override;

    std::string_view name() const noexcept override { return "epoll"; }
    void submit(Operation& op) override;
    void cancel(Operation& op) override;
    void close(int fd) override;
    void run_once(std::chrono::nanoseconds timeout) override;
    void wake() noexcept override;
    int send_now(int fd, const iovec* iov, int count) noexcept override;

private:
    struct FdState {
        OpQueue readers;  // accept, receive, receive_from, read, recvmsg
        OpQueue writers;  // send, connect, sendfile
        OpQueue watchers; // poll: told of readiness, never attempt a syscall
        // 32 bytes (asserted below): a server pays for one per descriptor
        // number in use.
        std::uint16_t ready = 0;  // epoll events since the watchers last ran (all fit in 16 bits)
        // Edge-triggered readiness: false once a direction said EAGAIN (or
        // a stream read came back short, so the socket is empty), true
        // again at its next edge. A parked queue is only retried when set,
        // so nothing calls into the kernel just to hear EAGAIN.
        bool readable = true;
        bool writable = true;
        // Bumped when the fd is closed or forgotten: an event fetched in the
        // same batch for the old descriptor (a handler closed it meanwhile,
        // and the number may already name a new socket) is then ignored.
        // 24 bits: it would take 16M closes of one number within one batch
        // of events to be fooled.
        std::uint32_t generation : 24 = 0;
        bool registered : 1 = false;
        bool dirty : 1 = false;  // listed in dirty_
        // The peer hung up (or an error is pending): a short read no longer
        // means empty, since the end of stream waits behind the data and
        // brings no further edge.
        bool hung_up : 1 = false;
    };
    static_assert(sizeof(FdState) == 32);
    enum class Attempt { done, blocked };

    FdState& state(int fd) {
        if (std::size_t(fd) >= fds_.size()) grow(fd);  // inline: several calls per message
        return fds_[std::size_t(fd)];
    }
    void grow(int fd);
    void add(int fd, FdState& s);  // into the epoll set
    void recycle(std::uint16_t buffer_id);  // back into its pool
    void wake_starved();  // once per turn: the fds whose pool has a buffer again retry
    void mark_dirty(int fd) { mark_dirty(fd, state(fd)); }
    void mark_dirty(int fd, FdState& s) {
        // Inline: several per message.
        if (s.dirty) return;
        s.dirty = true;
        dirty_.push_back(fd);
    }
    static bool is_reader(const Operation& op) noexcept;
    // finish(): the op's final result is known (a send made in submit(), a
    // cancellation); run_once() delivers it. The result waits in
    // op.transferred, which nothing reads once the op has finished.
    void finish(Operation& op, int result) noexcept;
    void deliver_finished();
    void wait_and_run(std::chrono::nanoseconds timeout);
    void run_dirty(const std::vector<int>& running);
    void on_event(const epoll_event& event, std::vector<int>& running);
    bool try_send_now(Operation& op, FdState& s);
    int send_gathered(int fd, const iovec* iov, int count) noexcept;
    int wait(epoll_event* events, int capacity, std::chrono::nanoseconds timeout);
    void run_queue(int fd, bool readers);
    void run_watchers(int fd);
    void forget_if_unused(int fd);
    /// Tries op once; on done, c is its completion.
    Attempt attempt(Operation& op, Completion& c);
    // receive_from (epoll_datagrams.cpp): datagrams taken by one recvmmsg
    // and handed to their op one by one. On the stack of the call that
    // took them, listed in batches_ while some are left, so that a nested
    // turn on the same fd hands those out first (order is kept per fd).
    static constexpr int kDatagramBatch = 16;
    struct DatagramBatch {
        int fd = -1;
        Operation* op = nullptr;
        int next = 0, count = 0;
        DatagramBatch* outer = nullptr;
        std::uint16_t ids[kDatagramBatch];
        std::uint32_t lengths[kDatagramBatch];
        socklen_t name_sizes[kDatagramBatch];
        std::uint16_t segment_sizes[kDatagramBatch];  // UDP_GRO's, or 0
        bool truncated[kDatagramBatch];
    };
    int receive_datagrams(int fd, Operation& op, int budget);
    int hand_out(DatagramBatch& batch);
    void end_batches(Operation& op);
    char* sender_of(std::uint16_t id) const noexcept;
    void receive_stream(int fd, Operation& op);
    Attempt attempt_connect(Operation& op, Completion& c);

    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    BufferPool pool_;
    std::unique_ptr<BufferPool> dgram_pool_;  // datagram buffers (buffer_pool.hpp), made on first use
    DatagramBatch* batches_ = nullptr;        // being handed out, innermost first
    std::vector<FdState> fds_;
    std::vector<int> dirty_;       // fds whose queues should be tried after the next wait
    std::vector<int> spare_;       // an empty vector with capacity, for the next dirty_
    // fds whose receive waits for a free buffer: of pool_ (streams), of
    // dgram_pool_ (datagrams). Rare: a handler holds its buffer only until
    // it returns, so only a nested turn it runs can find a pool empty.
    std::vector<int> starved_streams_;
    std::vector<int> starved_datagrams_;
    OpQueue finished_;             // results known, delivered by the next run_once
    bool skipped_wait_ = false;    // the last run_once delivered without epoll_wait
    std::vector<Operation*> watching_;  // run_watchers' snapshot (kept for its capacity)
};

}  // namespace pants::detail
