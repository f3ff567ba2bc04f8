/* bench/peers/uring_echo.c: a hand-written liburing echo server, the floor
 * that bench/echo.sh and bench/callgrind.sh measure Pants' io_uring backend
 * against.
 *
 * What a careful C programmer would write: one ring with SINGLE_ISSUER and
 * DEFER_TASKRUN, multishot accept, multishot recv into a provided-buffer ring
 * (512 buffers of 16 KiB, as Pants' default), one send in flight per
 * connection (bytes that arrive meanwhile are appended to its output buffer
 * and leave with the next send), one io_uring_submit_and_wait per loop turn.
 * No framework, no timers, no error recovery beyond closing the connection.
 *
 *   uring_echo [PORT]      (default 4000; listens on 127.0.0.1)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_COUNT 512
#define BUF_SIZE 16384
#define GROUP 0

enum { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

/* user_data: the connection's fd in the low 32 bits, the op above them. */
static uint64_t tag(int op, int fd) { return ((uint64_t)op << 32) | (uint32_t)fd; }

struct conn {
    char *out;          /* bytes to send: [sent_from, used) is in flight or waiting */
    size_t used, cap;
    size_t in_flight;   /* bytes of out the current send covers; 0: none in flight */
    int closing;        /* a send failed: the socket is shut down, the recv ends */
    int recv_done;      /* the multishot recv has ended (EOF or error) */
};

static struct io_uring ring;
static struct io_uring_buf_ring *bufs;
static char *buf_mem;
static struct conn *conns;
static int max_conns = 65536;

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void arm_recv(int fd) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = GROUP;
    io_uring_sqe_set_data64(sqe, tag(OP_RECV, fd));
}

static void arm_accept(int lfd) {
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag(OP_ACCEPT, lfd));
}

static void send_out(int fd, struct conn *c) {
    c->in_flight = c->used;
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, fd, c->out, c->in_flight, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag(OP_SEND, fd));
}

/* Closes the connection once neither its recv nor a send is in flight (the
 * fd number is the operations' tag, so it must not be reused before). */
static void maybe_close(int fd, struct conn *c) {
    if (!c->recv_done || c->in_flight) return;
    free(c->out);
    memset(c, 0, sizeof *c);
    close(fd);
}

static void append(struct conn *c, const char *data, size_t n) {
    if (c->used + n > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < c->used + n) cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) abort();
        c->out = p;
        c->cap = cap;
    }
    memcpy(c->out + c->used, data, n);
    c->used += n;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 4000;
    conns = calloc((size_t)max_conns, sizeof *conns);

    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    if (io_uring_queue_init_params(1024, &ring, &p) < 0) {
        memset(&p, 0, sizeof p);
        if (io_uring_queue_init_params(1024, &ring, &p) < 0) return perror("io_uring_queue_init"), 1;
    }

    size_t ring_bytes = BUF_COUNT * sizeof(struct io_uring_buf);
    bufs = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    buf_mem = malloc((size_t)BUF_COUNT * BUF_SIZE);
    io_uring_buf_ring_init(bufs);
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)bufs, .ring_entries = BUF_COUNT, .bgid = GROUP};
    if (io_uring_register_buf_ring(&ring, &reg, 0) < 0) return fprintf(stderr, "register_buf_ring failed\n"), 1;
    for (int i = 0; i < BUF_COUNT; ++i)
        io_uring_buf_ring_add(bufs, buf_mem + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(BUF_COUNT), i);
    io_uring_buf_ring_advance(bufs, BUF_COUNT);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4096) < 0) return perror("listen"), 1;
    arm_accept(lfd);

    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0, returned = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            uint64_t ud = io_uring_cqe_get_data64(cqe);
            int op = (int)(ud >> 32), fd = (int)(uint32_t)ud, res = cqe->res;
            int more = cqe->flags & IORING_CQE_F_MORE;
            if (op == OP_ACCEPT) {
                if (res >= 0 && res < max_conns) {
                    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    arm_recv(res);
                } else if (res >= 0) {
                    close(res);
                }
                if (!more) arm_accept(lfd);
            } else if (op == OP_RECV) {
                struct conn *c = &conns[fd];
                if (cqe->flags & IORING_CQE_F_BUFFER) {
                    unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                    if (res > 0 && !c->closing) append(c, buf_mem + (size_t)id * BUF_SIZE, (size_t)res);
                    io_uring_buf_ring_add(bufs, buf_mem + (size_t)id * BUF_SIZE, BUF_SIZE, (unsigned short)id,
                                          io_uring_buf_ring_mask(BUF_COUNT), (int)returned++);
                    if (res > 0 && !c->closing && !c->in_flight) send_out(fd, c);
                }
                if (!more && c->closing) c->recv_done = 1, maybe_close(fd, c);
                else if (!more) {
                    if (res > 0 || res == -ENOBUFS) arm_recv(fd);  /* the kernel ended it early */
                    else c->recv_done = 1, maybe_close(fd, c);     /* EOF or error */
                }
            } else if (op == OP_SEND) {
                struct conn *c = &conns[fd];
                size_t done = res > 0 ? (size_t)res : 0;
                memmove(c->out, c->out + done, c->used - done);
                c->used -= done;
                c->in_flight = 0;
                if (res < 0 && !c->closing) {
                    c->closing = 1;
                    shutdown(fd, SHUT_RDWR);  /* ends the recv */
                }
                if (c->closing) {
                    maybe_close(fd, c);
                } else if (c->used) {
                    send_out(fd, c);
                }
            }
        }
        io_uring_cq_advance(&ring, seen);
        if (returned) io_uring_buf_ring_advance(bufs, (int)returned);
    }
}
