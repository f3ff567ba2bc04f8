// pants/detail/operation.hpp: one in-flight kernel operation.
//
// Every asynchronous operation is an object whose address travels through
// the backend (io_uring's user_data, or the epoll backend's park lists).
// Channels embed one per direction, so the hot path allocates nothing.
// The memory an Operation points at (buffers, msghdr, sockaddr) must stay
// valid until its final completion arrives: see DESIGN.md, Buffer lifetime.
#pragma once

#include <cstddef>
#include <cstdint>

#include <sys/socket.h>
#include <sys/uio.h>

namespace pants::detail {

/// What an Operation asks the kernel to do.
enum class OpKind : std::uint8_t {
    accept,    ///< accept(fd) repeatedly (multishot); result: the new fd
    receive,   ///< recv(fd) repeatedly into provided buffers (multishot)
    receive_from,  ///< recvmsg(fd, msg) repeatedly into provided buffers (multishot, datagrams)
    read,      ///< one read(fd, data, size)
    send,      ///< one sendmsg(fd, msg) (writev for streams, sendto for UDP)
    recvmsg,   ///< one recvmsg(fd, msg)
    connect,   ///< connect(fd, address)
    sendfile,  ///< copy up to size bytes from file_fd at offset to fd
    poll,      ///< wait until fd is ready for poll_events; result: the ready mask
};

/// What the backend reports when an operation produces a result.
struct Completion {
    int result = 0;          ///< >= 0 on success; -errno on failure
    bool more = false;       ///< a multishot operation stays armed
    char* data = nullptr;    ///< receive: the bytes, valid until the handler returns
    std::uint16_t buffer_id = 0;  ///< receive: the backend's number for that buffer
};

/// receive_from: each completion with more == true is one datagram, and
/// is a DatagramCompletion (its handler may cast to it). An empty datagram
/// may come with no buffer (data == nullptr). Apart from Completion so
/// that the other completions, one or two per message, do not fill in a
/// sender.
struct DatagramCompletion : Completion {
    // Valid during the handler call: the sender, and whether the datagram
    // was cut to fit the buffer (result is what fitted).
    const sockaddr* from = nullptr;
    socklen_t from_size = 0;
    bool truncated = false;  // also: the control room was too small (MSG_CTRUNC)
    /// Receive offload (UDP_GRO): the payload is several datagrams of this
    /// size, back to back, from one sender (the last may be shorter).
    /// 0: the payload is one datagram.
    std::uint16_t segment_size = 0;
};

/// receive_from: the control room an op may give in msg_controllen
/// (0 or this much): a UDP_GRO message with its segment size, and one
/// timestamp (SO_TIMESTAMP / SO_TIMESTAMPNS) that the kernel puts before
/// it. When an op gave room and the kernel cut the control data, the
/// segment size may be lost: the payload is reported as truncated.
constexpr std::size_t kDatagramControl = 64;
static_assert(kDatagramControl >= CMSG_SPACE(sizeof(int)) + CMSG_SPACE(16));

/// receive_from: bytes of each provided buffer that come before the payload
/// (io_uring's 16-byte io_uring_recvmsg_out, then msg_namelen bytes of name).
/// The epoll backend leaves the same room, so that both take the same
/// largest datagram: buffer size - datagram_overhead(msg).
constexpr std::size_t datagram_overhead(const msghdr& msg) noexcept {
    return 4 * sizeof(std::uint32_t) + msg.msg_namelen + msg.msg_controllen;
}

/// Base of every in-flight operation. `handler` is called once per
/// completion; the last one has `more == false`.
///
/// Each kind uses only some parameters, so those no kind uses together
/// share storage (anonymous unions: the names stay, one is live per
/// kind). A channel embeds its receive operation, so this size is paid
/// by every idle connection.
struct Operation {
    using Handler = void (*)(Operation& op, const Completion& c);

    explicit Operation(Handler h) noexcept : handler(h) {}
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;

    Handler handler;
    OpKind kind = OpKind::read;
    bool in_flight = false;   ///< submitted; final completion not yet delivered
    bool cancelling = false;  ///< a cancel was requested
    bool multishot = false;   ///< poll: stay armed, one completion per wakeup
    bool polling = false;     // io_uring sendfile: waiting for the socket to take more
    int fd = -1;
    int file_fd = -1;         ///< sendfile: source

    // Parameters, by kind.
    union {
        void* data = nullptr;         ///< read: destination
        msghdr* msg;                  ///< send / recvmsg; receive_from: msg_namelen
                                      ///< = sizeof(sockaddr_storage), msg_controllen 0 or
                                      ///< kDatagramControl, one iovec of the backend's
                                      ///< (the kernel reads the layout)
        const sockaddr* address;      ///< connect
        std::uint64_t offset;         ///< sendfile: source offset
    };
    union {
        std::size_t size = 0;         ///< read / sendfile: byte count
        socklen_t address_size;       ///< connect
        std::uint32_t poll_events;    ///< poll: POLLIN, POLLOUT, ...
    };

    // Backend bookkeeping: epoll's park lists; io_uring's splice through a
    // pipe for sendfile (bytes sitting in the pipe, bytes already sent).
    Operation* next = nullptr;
    std::size_t transferred = 0;
    std::size_t in_pipe = 0;
    int pipe_fds[2] = {-1, -1};
};

}  // namespace pants::detail
