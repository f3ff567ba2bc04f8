// net/datagram_io.hpp: the I/O state behind a Datagram.
//
// Kept apart from the Datagram so that it can outlive it: when a Datagram
// is destroyed with operations in flight, its DatagramIo cancels them and
// frees itself only after the last completion (DESIGN.md, Buffer lifetime).
//
// Receiving has two modes. Callbacks (until a coroutine calls receive()):
// one multishot receive_from stays armed and each datagram is framed in
// place, in the engine's provided buffer, which goes back to the backend
// once its frames are delivered. The hot path reads top to bottom:
// on_datagram -> received -> deliver -> next_frame -> on_read -> release.
// Pull mode (receive()): the multishot is cancelled (datagrams it still
// brings wait in early_, in order) and one recvmsg at a time goes into the
// per-channel buffer of buffer_size bytes, armed only when a receive()
// waits, so that the kernel's socket buffer is the backpressure:
// on_received -> deliver -> try_read. At most one of the two is in flight.
// A datagram longer than buffer_size (or, in callback mode, than the
// provided buffer) is reported as message_size, never cut. With receive
// offload (UDP_GRO) a payload may hold several datagrams of one sender:
// they are framed one after the other (hold -> next_datagram ->
// datagram_done), from the same buffer.
// Sending is a FIFO of datagrams, each with its destination. The front of
// the FIFO goes as a chain of up to kMaxChain sendmsgs in flight at once,
// one per destination, so that order per destination is kept whatever the
// backend does (datagram_output.cpp); the next chain starts when all of
// this one has completed. On a UDP socket, datagrams of one size to one
// destination go as one sendmsg with a UDP_SEGMENT control message (GSO:
// the kernel cuts them apart again, in order). A send that fails is that
// datagram's error (on_send_error with its destination); it never ends the
// channel. The lifecycle is ChannelIo's.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/uio.h>

#include <pants/datagram.hpp>

#include <pants/detail/udp_gro.hpp>

#include "channel_io.hpp"
#include "fifo.hpp"

namespace pants::detail {

class DatagramIo final : public OwnedChannelIo<Datagram> {
public:
    DatagramIo(Engine& engine, Datagram* owner);
    ~DatagramIo() override;

    bool connected = false;
    bool listening = false;  // bound by listen() or assign()
    bool broadcast = false;
    std::optional<Address> last;  // where write(data) goes

    Result<void> listen(const Address& address, bool reuse_port);
    Result<void> connect(const Address& address);
    Result<void> set_broadcast(bool on);
    /// Takes a datagram socket made elsewhere (datagram_adopt.cpp).
    Result<void> assign(int fd);

    // Sending. queue() returns the datagram's sequence number (> 0), or 0
    // when the channel is closing and nothing was queued.
    std::uint64_t queue(std::string_view data, const Address* to);
    void flush() override;
    std::size_t pending_writes() const noexcept { return out_.size(); }
    /// A send_to() awaiter: true when its datagram was already resolved
    /// (or it never had one); else it may wait.
    bool try_send(Datagram::SendAwaiter& w);
    /// False when its datagram is gone (the channel closed).
    bool has_datagram(std::uint64_t seq) const noexcept;
    /// A waiting send was cancelled: a datagram not yet handed to the
    /// kernel is dropped.
    void drop_datagram(std::uint64_t seq) noexcept;

    // Coroutine receiving.
    bool try_read(Datagram::ReceiveAwaiter& r);
    /// A receive() found nothing and now waits in `readers`.
    void wait_read();
    void set_pull(bool pull);

private:
    struct Op : Operation {
        Op(Handler h, DatagramIo* d) : Operation(h), io(d) {}
        DatagramIo* io;
    };
    struct Outgoing {
        std::string bytes;
        Address to;
        bool has_to = false;
        bool dropped = false;  // cancelled before it was sent
        std::uint64_t seq = 0;
    };
    // One sendmsg of a chain: `count` datagrams from out_'s front, at
    // `first` (their index in out_ when the chain started).
    struct SendOp : Op {
        SendOp() : Op(&DatagramIo::on_sent, nullptr) {}
        msghdr header{};
        alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(std::uint16_t))]{};
        std::uint32_t first = 0, count = 0;
        int result = 0;
    };
    // The sendmsgs of a chain and their iovecs (made at the first send).
    static constexpr std::size_t kMaxChain = 8;
    static constexpr std::size_t kChainIovecs = 128;
    struct Chain {
        SendOp ops[kMaxChain];
        iovec iov[kChainIovecs];
    };
    // Outgoing datagrams stay where they are (the kernel reads their bytes
    // and address while their send is in flight); the queue moves only
    // their pointers, and spare ones are kept, strings and all, for reuse.
    using OutgoingPtr = std::unique_ptr<Outgoing>;
    struct Verdict {  // a datagram of a completed chain, and how it went
        OutgoingPtr datagram;
        std::error_code error;
    };
    struct Early {  // received by the multishot after pull mode began
        std::string bytes;
        Address from;
        std::error_code error;
    };

    // ChannelIo.
    bool busy() const noexcept override;
    void cancel_operations() override;
    void drop_output() override;
    void begin_end() override;
    void report(Report report, std::error_code ec) override;

    static void on_received(Operation& op, const Completion& c);
    static void on_datagram(Operation& op, const Completion& c);
    static void on_sent(Operation& op, const Completion& c);
    void start_chain();
    std::size_t batch(std::size_t at, std::size_t room);
    bool gso_usable();
    void chain_done();
    void resolved(OutgoingPtr o, std::error_code ec);

    Result<void> open(int family, const Address* bind_to, bool reuse_port = false);
    void take(int socket_fd, bool offload);
    char* buffer();
    void enable_receive_offload();
    void announce_listen();
    void start_receiving();
    void receive_ended(int result);
    void received(const DatagramCompletion& c);
    void keep_datagram();
    void hold(std::string_view payload, std::uint16_t segment_size);
    void next_datagram();
    void datagram_done();
    std::error_code unstash();
    void deliver();
    Result<bool> next_frame(std::string_view& frame);
    void read_error(std::error_code ec);
    void send_done(Outgoing& o, std::error_code ec);
    void drained();
    Datagram::ReceiveAwaiter* reader() const noexcept;

    Op recv_op_{&DatagramIo::on_received, this};  // pull mode: one recvmsg
    Op multi_op_{&DatagramIo::on_datagram, this};  // callback mode: multishot receive_from

    // Receiving: the datagram being framed lies in buf_ (or, in callback
    // mode, in a provided buffer: lent_) until every frame of it is
    // delivered (and, for a coroutine, until its next receive()). buf_ is
    // made by buffer() when first needed: an idle channel has none.
    std::unique_ptr<char[]> buf_;
    std::size_t buf_size_ = 0;
    iovec recv_iov_{};
    msghdr recv_msg_{};
    iovec multi_iov_{};       // its length is the backend's to set
    msghdr multi_msg_{};
    sockaddr_storage multi_name_{};  // single-shot fallback's scratch
    // Receive offload's control messages (their segment size), once on;
    // shared, as one receive at most is in flight (only io_uring's
    // single-shot fallback writes multi_msg_'s).
    alignas(cmsghdr) unsigned char control_[kDatagramControl]{};
    // The largest payload UDP_GRO may coalesce: buffer_size must hold it.
    static constexpr std::size_t kLargestPayload = 65535;
    std::deque<Early> early_;
    Address from_;
    std::string_view datagram_;  // what is left of it to frame
    std::string_view segments_;  // the payload's datagrams after it (UDP_GRO)
    std::uint16_t segment_size_ = 0;  // theirs; 0: one datagram per payload
    bool between_ = false;  // datagram_ is done; the next is segments_' first
    bool has_datagram_ = false;
    bool lent_ = false;          // datagram_ lies in a provided buffer
    bool pull_ = false;          // a coroutine receives: datagrams wait for receive()
    bool delivering_ = false;
    std::error_code pending_error_;  // for the next receive() in pull mode

    // Sending.
    Fifo<OutgoingPtr> out_;
    std::vector<OutgoingPtr> spare_;
    std::unique_ptr<Chain> chain_;
    std::size_t chain_size_ = 0;   // sendmsgs of the chain in flight
    std::size_t chain_done_ = 0;   // of which completed
    std::size_t sending_ = 0;      // datagrams at out_'s front in the chain
    // A completed chain's verdicts, handed out in order from next_verdict_
    // (user code runs: a turn nested in it must not start the next chain,
    // nor see these datagrams as gone; chain_done() flushes after).
    std::vector<Verdict> verdicts_;
    std::size_t next_verdict_ = 0;
    bool resolving_ = false;
    // Datagrams resolved while one queued before them goes again (a GSO
    // batch that failed, in a chain with later sendmsgs): above done_seq_.
    std::vector<std::uint64_t> resolved_ahead_;
    enum class Gso : std::uint8_t { unknown, on, off } gso_ = Gso::unknown;
    std::uint64_t next_seq_ = 1;
    std::uint64_t done_seq_ = 0;  // every datagram up to this one is resolved
    std::error_code open_error_;  // why a write() could not open a socket
    Timer listen_notice_;         // on_listen, on a later turn
};

}  // namespace pants::detail
