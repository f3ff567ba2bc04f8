/* bench/peers/epoll_echo.c: a hand-written epoll echo server, the floor that
 * bench/echo.sh and bench/callgrind.sh measure Pants' epoll backend against.
 *
 * What a careful C programmer would write: each fd registered once,
 * edge-triggered, for input and output; on input, recv until EAGAIN and send
 * each chunk back at once; what the socket does not take waits in the
 * connection's output buffer until EPOLLOUT. One epoll_wait per loop turn.
 *
 *   epoll_echo [PORT]      (default 4000; listens on 127.0.0.1)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
    char *out;  /* bytes the socket did not take yet */
    size_t used, cap;
};

static struct conn *conns;
static int max_conns = 65536;
static char buf[65536];

static void conn_close(int fd) {
    free(conns[fd].out);
    memset(&conns[fd], 0, sizeof conns[fd]);
    close(fd);  /* also removes it from the epoll set */
}

/* Sends what is queued; -1 if the connection failed. */
static int flush_out(int fd, struct conn *c) {
    while (c->used) {
        ssize_t n = send(fd, c->out, c->used, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        memmove(c->out, c->out + n, c->used - (size_t)n);
        c->used -= (size_t)n;
    }
    return 0;
}

static void queue_out(struct conn *c, const char *data, size_t n) {
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

static void on_input(int fd) {
    struct conn *c = &conns[fd];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            ssize_t w = 0;
            if (!c->used) {
                w = send(fd, buf, (size_t)n, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN) return conn_close(fd);
                if (w < 0) w = 0;
            }
            if (w < n) queue_out(c, buf + w, (size_t)(n - w));
            if ((size_t)n < sizeof buf) return;  /* short read: the socket is empty */
        } else if (n == 0 || errno != EAGAIN) {
            return conn_close(fd);
        } else {
            return;
        }
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 4000;
    conns = calloc((size_t)max_conns, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4096) < 0) return perror("listen"), 1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (c >= max_conns) { close(c); continue; }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_input(fd);
            /* on_input may have closed fd; a fresh accept reuses the number only later. */
            if ((events[i].events & EPOLLOUT) && conns[fd].used && flush_out(fd, &conns[fd]) < 0) conn_close(fd);
        }
    }
}
