/* bench/send_zc.c: does zero-copy send (IORING_OP_SEND_ZC) or a registered
 * ring fd pay off for large stream writes? Issue 14, "Large writes".
 * bench/send_zc.sh builds and runs it and prints the table.
 *
 *   send_zc stream MODE SIZE TOTAL [BUFS]
 *       Sends TOTAL bytes over one loopback TCP connection, SIZE bytes per
 *       send, from an io_uring sender to a reader in a forked process that
 *       drains the socket with plain recv(2) and compares every byte with
 *       what was sent. MODE is one of
 *         send      IORING_OP_SEND
 *         zc        IORING_OP_SEND_ZC with IORING_SEND_ZC_REPORT_USAGE
 *         zcmsg     IORING_OP_SENDMSG_ZC (one iovec), the same report
 *         send-reg  send, ring fd registered (io_uring_register_ring_fd)
 *         zc-reg    zc, ring fd registered
 *       One send is in flight at a time (stream order), as in Pants. The next
 *       send is issued when the previous one's result CQE arrives, never
 *       after its notification CQE (IORING_CQE_F_NOTIF); each buffer stays
 *       untouched until its notification arrives, so the sender cycles
 *       through a ring of BUFS buffers of SIZE bytes, each with its own
 *       contents, and waits only when the next buffer's notification is
 *       still out. The notification comes only when TCP has been ACKed for
 *       the bytes (the skb in the retransmit queue holds the pages), so the
 *       ring must cover about a send buffer's worth: by default BUFS is
 *       4 MiB / SIZE, at least 8 (with 8 buffers of 4 KiB a zc sender stalls
 *       on delayed ACKs at ~20 MiB/s). send uses the same ring, so both
 *       touch the same memory. Prints one line:
 *         MODE SIZE BYTES WALL_NS CPU_NS ENTERS NOTIFS COPIED
 *       CPU_NS is the sender's user+system time (getrusage RUSAGE_SELF, the
 *       reader is another process) from the first send to the last CQE;
 *       WALL_NS runs until the reader has checked the last byte; ENTERS
 *       counts io_uring_submit_and_wait calls; COPIED counts notifications
 *       with IORING_NOTIF_USAGE_ZC_COPIED set (the kernel copied the data).
 *
 *   send_zc nop COUNT
 *       The cost of one io_uring_enter: COUNT rounds of one NOP submitted and
 *       waited for (io_uring_submit_and_wait), first on an unregistered ring
 *       fd, then registered, alternated in 8 slices each. Prints
 *         nop REG NS_PER_ENTER INSTR_PER_ENTER
 *       for REG = 0 and 1; instructions (user + kernel) come from
 *       perf_event_open and read "n/a" where the machine has no counter.
 *
 * Sender on CPU 0, reader on CPU 1 when the machine has two CPUs. Each run
 * is bounded by alarm(2). Loopback only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Debian 12's liburing 2.3 headers predate these (kernel 6.2 uapi). */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

#define RUN_LIMIT_SECONDS 120

static void die(const char *what, int err) {
    fprintf(stderr, "send_zc: %s: %s\n", what, strerror(err));
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static void pin(int cpu) {
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set); /* best effort: a cpuset may forbid it */
}

/* The stream's contents: byte p of the period (BUFS * SIZE bytes, buffer
 * after buffer) is pattern(p), so a lost, repeated or reordered chunk shows. */
static void fill_pattern(unsigned char *dst, size_t len) {
    for (size_t p = 0; p < len; p++) dst[p] = (unsigned char)((p * 2654435761u) >> 13);
}

/* The reader (child process): accepts one connection, drains it until EOF,
 * compares every byte with the pattern, writes "BYTES BAD" to the pipe. */
static void run_reader(int listener, int report_fd, size_t period) {
    alarm(RUN_LIMIT_SECONDS); /* fork cleared the parent's */
    pin(1);
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) die("accept", errno);
    unsigned char *expect = malloc(period);
    unsigned char *buf = malloc(1 << 20);
    if (!expect || !buf) die("malloc", ENOMEM);
    fill_pattern(expect, period);
    uint64_t total = 0;
    size_t at = 0; /* offset in the period */
    int bad = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, 1 << 20, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("recv", errno);
        if (n == 0) break;
        size_t off = 0;
        while (off < (size_t)n) {
            size_t chunk = (size_t)n - off;
            if (chunk > period - at) chunk = period - at;
            if (memcmp(buf + off, expect + at, chunk) != 0) bad = 1;
            off += chunk;
            at = (at + chunk) % period;
        }
        total += (uint64_t)n;
    }
    char line[64];
    int len = snprintf(line, sizeof line, "%llu %d\n", (unsigned long long)total, bad);
    if (write(report_fd, line, (size_t)len) != len) die("write report", errno);
    exit(0);
}

static void setup_ring(struct io_uring *ring, unsigned entries, int registered) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int r = io_uring_queue_init_params(entries, ring, &p);
    if (r == -EINVAL) { /* kernel < 6.1: plain ring */
        memset(&p, 0, sizeof p);
        r = io_uring_queue_init_params(entries, ring, &p);
    }
    if (r < 0) die("io_uring_queue_init", -r);
    if (registered) {
        r = io_uring_register_ring_fd(ring);
        if (r != 1) die("io_uring_register_ring_fd", r < 0 ? -r : EINVAL);
    }
}

struct stream_result {
    uint64_t cpu_ns, enters, notifs, copied;
};

/* The sender: one send in flight; buffer i may be written to / reused only
 * once busy[i] is 0 (its result and, for zc, its notification are back). */
enum send_op { OP_SEND, OP_SEND_ZC, OP_SENDMSG_ZC };

static struct stream_result send_stream(int fd, enum send_op op, int registered, size_t size,
                                        uint64_t total, unsigned nbufs, unsigned char *mem) {
    struct io_uring ring;
    setup_ring(&ring, 64, registered);
    int *busy = calloc(nbufs, sizeof *busy); /* 1 result pending + 1 notification pending */
    if (!busy) die("calloc", ENOMEM);
    struct stream_result res = {0, 0, 0, 0};
    uint64_t sent = 0;
    unsigned cur = 0;      /* buffer being sent */
    size_t cur_off = 0;    /* bytes of it already sent */
    int in_flight = 0;
    int outstanding = 0;   /* results + notifications still to come */
    struct iovec iov;      /* OP_SENDMSG_ZC: stays put while its send is in flight */
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    uint64_t cpu0 = cpu_ns();
    while (sent < total || outstanding > 0) {
        if (!in_flight && sent < total && (busy[cur] == 0 || cur_off > 0)) {
            size_t len = size - cur_off;
            if (len > total - sent) len = (size_t)(total - sent);
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            unsigned char *at = mem + (size_t)cur * size + cur_off;
            if (op == OP_SEND_ZC) {
                io_uring_prep_send_zc(sqe, fd, at, len, MSG_WAITALL, IORING_SEND_ZC_REPORT_USAGE);
            } else if (op == OP_SENDMSG_ZC) {
                iov.iov_base = at;
                iov.iov_len = len;
                io_uring_prep_sendmsg_zc(sqe, fd, &msg, MSG_WAITALL);
                sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
            } else {
                io_uring_prep_send(sqe, fd, at, len, MSG_WAITALL);
            }
            io_uring_sqe_set_data64(sqe, cur);
            busy[cur]++;
            in_flight = 1;
            outstanding++;
        }
        int r = io_uring_submit_and_wait(&ring, 1);
        res.enters++;
        if (r < 0 && r != -EINTR) die("io_uring_submit_and_wait", -r);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            unsigned b = (unsigned)cqe->user_data;
            if (cqe->flags & IORING_CQE_F_NOTIF) {
                res.notifs++;
                if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED) res.copied++;
                busy[b]--;
                outstanding--;
                continue;
            }
            /* The result. F_MORE: a notification follows; the buffer stays busy. */
            if (!(cqe->flags & IORING_CQE_F_MORE)) {
                busy[b]--;
                outstanding--;
            } /* else the count now stands for the notification still to come */
            if (cqe->res < 0) die("send", -cqe->res);
            in_flight = 0;
            sent += (uint64_t)cqe->res;
            cur_off += (size_t)cqe->res;
            if (cur_off == size) {
                cur_off = 0;
                cur = (cur + 1) % nbufs;
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    res.cpu_ns = cpu_ns() - cpu0;
    free(busy);
    io_uring_queue_exit(&ring);
    return res;
}

static int run_stream(const char *mode, size_t size, uint64_t total, unsigned nbufs) {
    enum send_op op;
    int registered;
    if (!strcmp(mode, "send")) op = OP_SEND, registered = 0;
    else if (!strcmp(mode, "zc")) op = OP_SEND_ZC, registered = 0;
    else if (!strcmp(mode, "zcmsg")) op = OP_SENDMSG_ZC, registered = 0;
    else if (!strcmp(mode, "send-reg")) op = OP_SEND, registered = 1;
    else if (!strcmp(mode, "zc-reg")) op = OP_SEND_ZC, registered = 1;
    else {
        fprintf(stderr, "send_zc: unknown mode %s\n", mode);
        return 2;
    }
    size_t period = (size_t)nbufs * size;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) die("socket", errno);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind", errno);
    if (listen(listener, 1) < 0) die("listen", errno);
    if (getsockname(listener, (struct sockaddr *)&addr, &alen) < 0) die("getsockname", errno);
    int report[2];
    if (pipe(report) < 0) die("pipe", errno);
    pid_t child = fork();
    if (child < 0) die("fork", errno);
    if (child == 0) {
        close(report[0]);
        run_reader(listener, report[1], period);
    }
    close(report[1]);
    close(listener);
    pin(0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket", errno);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect", errno);

    unsigned char *mem = malloc(period);
    if (!mem) die("malloc", ENOMEM);
    fill_pattern(mem, period);

    uint64_t t0 = now_ns();
    struct stream_result r = send_stream(fd, op, registered, size, total, nbufs, mem);
    shutdown(fd, SHUT_WR);
    char line[64] = {0};
    ssize_t n = read(report[0], line, sizeof line - 1);
    uint64_t wall = now_ns() - t0;
    int status = 0;
    waitpid(child, &status, 0);
    unsigned long long got = 0;
    int bad = 1;
    if (n <= 0 || sscanf(line, "%llu %d", &got, &bad) != 2 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "send_zc: the reader failed\n");
        return 1;
    }
    if (got != total || bad) {
        fprintf(stderr, "send_zc: reader got %llu bytes of %llu, %s\n", got,
                (unsigned long long)total, bad ? "contents differ" : "contents match");
        return 1;
    }
    printf("%s %zu %llu %llu %llu %llu %llu %llu\n", mode, size, (unsigned long long)total,
           (unsigned long long)wall, (unsigned long long)r.cpu_ns, (unsigned long long)r.enters,
           (unsigned long long)r.notifs, (unsigned long long)r.copied);
    free(mem);
    close(fd);
    return 0;
}

/* An instruction counter for this thread, user + kernel; -1 when there is none. */
static int open_instr_counter(void) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_HARDWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_HW_INSTRUCTIONS;
    a.disabled = 1;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static uint64_t read_counter(int fd) {
    uint64_t v = 0;
    if (fd < 0 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) return 0;
    return v;
}

/* COUNT submit-and-wait rounds of one NOP each on RING: nanoseconds and instructions. */
static void nop_rounds(struct io_uring *ring, uint64_t count, int counter, uint64_t *ns,
                       uint64_t *instr) {
    if (counter >= 0) ioctl(counter, PERF_EVENT_IOC_RESET, 0);
    if (counter >= 0) ioctl(counter, PERF_EVENT_IOC_ENABLE, 0);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        io_uring_prep_nop(io_uring_get_sqe(ring));
        int r = io_uring_submit_and_wait(ring, 1);
        if (r < 0) die("io_uring_submit_and_wait", -r);
        struct io_uring_cqe *cqe;
        if (io_uring_peek_cqe(ring, &cqe) == 0) io_uring_cqe_seen(ring, cqe);
    }
    *ns += now_ns() - t0;
    if (counter >= 0) ioctl(counter, PERF_EVENT_IOC_DISABLE, 0);
    *instr += read_counter(counter);
}

static int run_nop(uint64_t count) {
    pin(0);
    struct io_uring plain, reg;
    setup_ring(&plain, 8, 0);
    setup_ring(&reg, 8, 1);
    int counter = open_instr_counter();
    uint64_t ns[2] = {0, 0}, instr[2] = {0, 0};
    const int slices = 8;
    for (int s = 0; s < slices; s++) {
        nop_rounds(&plain, count / slices, counter, &ns[0], &instr[0]);
        nop_rounds(&reg, count / slices, counter, &ns[1], &instr[1]);
    }
    uint64_t done = count / slices * slices;
    for (int r = 0; r < 2; r++) {
        if (counter >= 0)
            printf("nop %d %.1f %.0f\n", r, (double)ns[r] / (double)done,
                   (double)instr[r] / (double)done);
        else
            printf("nop %d %.1f n/a\n", r, (double)ns[r] / (double)done);
    }
    io_uring_queue_exit(&plain);
    io_uring_queue_exit(&reg);
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: send_zc stream send|zc|zcmsg|send-reg|zc-reg SIZE TOTAL [BUFS]\n"
                    "       send_zc nop COUNT\n");
    exit(2);
}

int main(int argc, char **argv) {
    alarm(RUN_LIMIT_SECONDS); /* every run is bounded */
    if (argc >= 3 && !strcmp(argv[1], "nop")) return run_nop(strtoull(argv[2], NULL, 10));
    if (argc < 5 || strcmp(argv[1], "stream") != 0) usage();
    size_t size = strtoull(argv[3], NULL, 10);
    uint64_t total = strtoull(argv[4], NULL, 10);
    size_t ring_bytes = 4u << 20;
    unsigned nbufs = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10)
                              : (size < ring_bytes / 8 ? (unsigned)(ring_bytes / size) : 8);
    if (size == 0 || total == 0 || nbufs == 0) usage();
    return run_stream(argv[2], size, total, nbufs);
}
