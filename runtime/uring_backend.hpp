// runtime/uring_backend.hpp: the io_uring implementation of Backend.
//
// One ring per Engine; the Operation's address is the SQE's user_data.
// Multishot accept and multishot recv/recvmsg into a provided-buffer ring, one
// io_uring_enter per loop turn for all submissions plus the wait.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include <liburing.h>

#include <pants/detail/backend.hpp>

#include "buffer_pool.hpp"

namespace pants::detail {

class UringBackend final : public Backend {
public:
    /// Sets up a ring with the best flags the kernel takes; an error when
    /// io_uring is unusable here (ENOSYS, EPERM, a missing opcode, ...).
    static Result<std::unique_ptr<UringBackend>> create(const BackendConfig& config);
    ~UringBackend() override;

    std::string_view name() const noexcept override { return "io_uring"; }
    void submit(Operation& op) override;
    void cancel(Operation& op) override;
    void close(int fd) override;
    void run_once(std::chrono::nanoseconds timeout) override;
    void wake() noexcept override;
    void notify(Backend& target) noexcept override;
    void flush_notifications() override;
    bool can_turn_here() const noexcept override;
    int send_datagram(int fd, std::string_view data, DatagramSendSink& sink) noexcept override;
    void forget(DatagramSendSink& sink) noexcept override;

    /// The setup flags the ring got (for tests and the benchmark banner).
    unsigned setup_flags() const noexcept { return setup_flags_; }

private:
    explicit UringBackend(const BackendConfig& config);
    Result<void> init(const BackendConfig& config);
    Result<void> init_buffer_ring();
    /// Maps and registers a ring for `pool`, handing the kernel its first `provide` buffers.
    Result<io_uring_buf_ring*> register_buffers(BufferPool& pool, std::uint16_t group, std::size_t& bytes,
                                                unsigned provide);
    /// The next free SQE, or nullptr when the queue is full.
    io_uring_sqe* try_sqe() noexcept;
    io_uring_sqe* next_sqe();
    [[gnu::cold]] io_uring_sqe* next_sqe_after_submit();
    /// Moves the SQEs parked in early_sqes_ into the ring, in order.
    void submit_early_sqes();
    void enable();
    int submit_and_wait_one() noexcept;
    /// A turn on another thread than the last turn's, or the first turn:
    /// enables the ring (binding it to this thread where SINGLE_ISSUER);
    /// EEXIST if it is bound to another.
    void adopt_thread();
    /// Which thread this is, checked once per turn: a number no other
    /// thread of this process ever gets (a thread pointer or pthread_self()
    /// is reused by a thread made after another exits, which would let
    /// a turn enter that other thread's registered ring). Initial-exec
    /// TLS: one load from %fs, no __tls_get_addr call. 0 until
    /// this_thread_tag() gives the thread its number.
    static std::uint64_t& thread_tag() noexcept {
        static thread_local std::uint64_t tag __attribute__((tls_model("initial-exec"))) = 0;
        return tag;
    }
    static std::uint64_t this_thread_tag() noexcept {
        std::uint64_t& tag = thread_tag();
        if (tag == 0) [[unlikely]] tag = next_thread_tag();
        return tag;
    }
    static std::uint64_t next_thread_tag() noexcept;
    static void check_enter(int result) {
        if (result < 0) check_enter_failed(result);
    }
    static void check_enter_failed(int result);
    [[gnu::noinline]] void submit_other(Operation& op);  // submit() for all but sends
    void prepare(Operation& op, io_uring_sqe* sqe);
    void complete(Operation& op, int res, unsigned flags);
    void complete_receive(Operation& op, int res, unsigned flags);
    void keep_armed(Operation& op, bool more, const Completion& c);
    DatagramCompletion datagram(Operation& op, int res, char* buffer, std::uint16_t id);
    void complete_sendfile(Operation& op, int res);
    void rearm_starved();
    void recycle(std::uint16_t buffer_id);  // back into the ring
    void recycle_stream_buffer(std::uint16_t id) noexcept { give_back(buf_ring_, pool_, id); }
    /// Puts buffer `id` of `pool` back in `ring` and shows it to the kernel
    /// at once: the handler that had it has returned, and a tail moved now
    /// costs no more than one moved later for a batch.
    static void give_back(io_uring_buf_ring* ring, const BufferPool& pool, std::uint16_t id) noexcept {
        io_uring_buf_ring_add(ring, pool.at(id), pool.size(), id, io_uring_buf_ring_mask(pool.count()), 0);
        io_uring_buf_ring_advance(ring, 1);
    }
    /// dispatch(), then the receive buffer (if any) goes back to its ring.
    void deliver(Operation& op, const Completion& c) noexcept {
        dispatch(op, c);
        if (c.data) {
            returned();
            recycle(c.buffer_id);
        }
    }

    io_uring ring_{};
    bool ring_ready_ = false;
    // The thread adopt_thread() last ran on (no thread's tag at first).
    std::uint64_t turn_thread_ = ~std::uint64_t(0);
    // Those of a turn's io_uring_enter: GETEVENTS, and REGISTERED_RING
    // once enable() registered the ring fd in its thread's table.
    unsigned enter_flags_ = IORING_ENTER_GETEVENTS;
    unsigned setup_flags_ = 0;
    // SQEs taken while the queue was full and the ring could not take a
    // submission from this thread: before the first turn (the ring is still
    // disabled, and enabling it would bind it, SINGLE_ISSUER, to whatever
    // thread is building channels), or on a thread other than the turns'
    // (an Engine destroyed there). The next turn on the ring's thread
    // moves them into the ring (kSubmitEarly, before anything else).
    // A deque: the SQEs handed out stay put.
    std::deque<io_uring_sqe> early_sqes_;
    bool multishot_accept_ = false;
    bool multishot_recv_ = false;

    BufferPool pool_;
    io_uring_buf_ring* buf_ring_ = nullptr;
    std::size_t buf_ring_bytes_ = 0;
    // The kernel takes ring buffers in turn, so each one it is given gets
    // its first page written even by a one-byte message: the stream ring
    // starts with kFirstProvided buffers of the pool and doubles them
    // (provide_more_buffers) when receives run out (ENOBUFS). A server whose
    // connections send a little now and then keeps a few buffers resident,
    // not the whole pool.
    static constexpr unsigned kFirstProvided = 64;
    unsigned provided_ = 0;  // pool buffers handed to the stream ring so far (0..provided_-1)
    void provide_more_buffers();

    // Datagram receive buffers (buffer_pool.hpp): a second provided-buffer
    // group, set up by the first receive_from.
    void ensure_datagram_ring();
    char* buffer_at(std::uint16_t tagged_id) const noexcept;
    std::unique_ptr<BufferPool> dgram_pool_;
    io_uring_buf_ring* dgram_ring_ = nullptr;
    std::size_t dgram_ring_bytes_ = 0;
    std::vector<Operation*> starved_;   // receives ended by ENOBUFS, re-armed next turn
    // Work for the start of the next turn, in one byte for a turn to test:
    // starved_ is not empty, or send_datagram() slots wait to be freed.
    // Or SQEs wait in early_sqes_.
    enum : std::uint8_t { kRearmStarved = 1, kSettleSends = 2, kSubmitEarly = 4 };
    std::uint8_t chores_ = 0;
    [[gnu::noinline]] void do_chores();
    sockaddr_storage name_{};           // single-shot receive_from: the sender, for the handler

    // Cross-engine wake-ups (notify): IORING_OP_MSG_RING, 5.18.
    bool msg_ring_ = false;
    void notify_failed(std::uint64_t user_data) noexcept;

    // Datagrams taken by send_datagram() (IOSQE_CQE_SKIP_SUCCESS, 5.17):
    // each a copy in a slot of a ring, which its send reads only inside
    // the io_uring_enter that takes its SQE (MSG_DONTWAIT: a full socket
    // fails with EAGAIN there instead of leaving the send parked, so no
    // success completion is needed to know the kernel is done with it).
    // Slots are freed in order once that enter is past and the completion
    // queue it may have posted a failure to is drained (settle_detached,
    // at the start of a later turn).
    static constexpr std::size_t kDetachedBytes = 512;
    static constexpr unsigned kDetachedSlots = 64;
    struct DetachedSend {
        DatagramSendSink* sink;  // null: forgotten, or its failure reported
        unsigned sqe;            // its SQE's number, as the SQ head counts
        int fd;
        std::uint16_t size;
        char bytes[kDetachedBytes];
    };
    void detached_failed(std::uint64_t user_data, int res) noexcept;
    void settle_detached() noexcept;
    bool skip_success_ = false;
    std::unique_ptr<DetachedSend[]> detached_;
    unsigned detached_head_ = 0;   // oldest slot in use
    unsigned detached_count_ = 0;  // slots in use

    int wake_fd_ = -1;
    std::uint64_t wake_value_ = 0;
    Operation wake_op_{nullptr};
};

}  // namespace pants::detail
