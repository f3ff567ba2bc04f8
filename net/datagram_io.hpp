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
// provided buffer) is reported as message_size, never cut.
// Sending is a FIFO of datagrams, each with its destination, one sendmsg in
// flight at a time so that order is kept whatever the backend does. On a
// UDP socket, datagrams at the front of the FIFO of one size to one
// destination go as one sendmsg with a UDP_SEGMENT control message (GSO:
// the kernel cuts them apart again, in order; see datagram_output.cpp). A send
// that fails is that datagram's error (on_send_error with its destination);
// it never ends the channel. The lifecycle is ChannelIo's.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/uio.h>

#include <pants/datagram.hpp>

#include "channel_io.hpp"

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
    std::size_t gso_batch();
    bool gso_usable();
    void sent_front(std::error_code ec);

    Result<void> open(int family, const Address* bind_to, bool reuse_port = false);
    void take(int socket_fd);
    char* buffer();
    void announce_listen();
    void start_receiving();
    void receive_ended(int result);
    void received(const Completion& c);
    void keep_datagram();
    std::error_code unstash();
    void deliver();
    Result<bool> next_frame(std::string_view& frame);
    void read_error(std::error_code ec);
    void send_done(Outgoing& o, std::error_code ec);
    void drained();
    Datagram::ReceiveAwaiter* reader() const noexcept;

    Op recv_op_{&DatagramIo::on_received, this};  // pull mode: one recvmsg
    Op multi_op_{&DatagramIo::on_datagram, this};  // callback mode: multishot receive_from
    Op send_op_{&DatagramIo::on_sent, this};

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
    std::deque<Early> early_;
    Address from_;
    std::string_view datagram_;  // what is left of it to frame
    bool has_datagram_ = false;
    bool lent_ = false;          // datagram_ lies in a provided buffer
    bool pull_ = false;          // a coroutine receives: datagrams wait for receive()
    bool delivering_ = false;
    std::error_code pending_error_;  // for the next receive() in pull mode

    // Sending.
    std::deque<Outgoing> out_;
    std::vector<std::string> spare_;
    iovec send_iov_{};
    msghdr send_msg_{};
    std::size_t sending_ = 0;  // datagrams at out_'s front in the sendmsg in flight
    // on_sent() is handing out a batch's verdicts: user code runs, and a
    // turn nested in it must not send the batch's unresolved datagrams
    // again (they are still at out_'s front); on_sent() flushes after.
    bool resolving_ = false;
    // GSO: the batch's iovecs (made at the first batch) and its UDP_SEGMENT.
    std::unique_ptr<iovec[]> gso_iov_;
    alignas(cmsghdr) unsigned char gso_control_[CMSG_SPACE(sizeof(std::uint16_t))]{};
    enum class Gso : std::uint8_t { unknown, on, off } gso_ = Gso::unknown;
    std::uint64_t next_seq_ = 1;
    std::uint64_t done_seq_ = 0;  // every datagram up to this one is resolved
    std::error_code open_error_;  // why a write() could not open a socket
    Timer listen_notice_;         // on_listen, on a later turn
};

}  // namespace pants::detail
