/* ares_client: the c-ares side of bench/dns.sh. The same workload as
 * bench/dns_bench.cpp's uncached passes, through ares_query(), so the two
 * can be compared in one run against the same dnsmasq.
 *
 *   ares_client PORT NAMES WINDOW ZONE [ROUND]
 *
 * Asks 127.0.0.1:PORT for the A records of NAMES names
 * "q<i>.r<ROUND>.cares.<ZONE>" (ROUND default 0: dns_bench runs one client
 * per round, each on names new to the server; "cares" is as long as
 * dns_bench's "uring" and "epoll"), WINDOW queries in flight, twice:
 * "cold" (the server sees each name for the first time) and "warm" (the
 * same names again). c-ares 1.18 has no cache of its own, so both are
 * network round trips. Prints one line per pass:
 *   <pass> <queries/s> <CPU µs/query>
 * CPU is this process's user + system time (getrusage). Every reply must be
 * ARES_SUCCESS with one address; the run fails otherwise.
 *
 * Built by bench/dns.sh when Debian's libc-ares-dev is installed:
 *   cc -O2 bench/peers/ares_client.c -lcares
 */
#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct run {
    ares_channel channel;
    char** names;
    int count;
    int sent;
    int done;
    int failed;
};

static void on_reply(void* arg, int status, int timeouts, unsigned char* abuf, int alen);

static void send_next(struct run* r) {
    const char* name = r->names[r->sent++];
    ares_query(r->channel, name, ns_c_in, ns_t_a, on_reply, r);
}

static void on_reply(void* arg, int status, int timeouts, unsigned char* abuf, int alen) {
    struct run* r = arg;
    (void)timeouts;
    ++r->done;
    struct hostent* host = NULL;
    struct ares_addrttl addrs[4];
    int naddrs = 4;
    /* Decode the reply as a client would, so the cost compares with ours. */
    if (status != ARES_SUCCESS || ares_parse_a_reply(abuf, alen, &host, addrs, &naddrs) != ARES_SUCCESS ||
        naddrs != 1)
        ++r->failed;
    if (host) ares_free_hostent(host);
    if (r->sent < r->count) send_next(r);
}

static double seconds(const struct timespec* t) { return (double)t->tv_sec + (double)t->tv_nsec / 1e9; }

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* Sends every name once, `window` at a time; prints the pass's line. */
static void pass(struct run* r, int window, const char* label) {
    r->sent = r->done = r->failed = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const double cpu0 = cpu_seconds();
    for (int i = 0; i < window && r->sent < r->count; ++i) send_next(r);
    while (r->done < r->count) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        int bits = ares_getsock(r->channel, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd fds[ARES_GETSOCK_MAXNUM];
        int n = 0;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
            short events = 0;
            if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
            if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
            if (!events) continue;
            fds[n].fd = socks[i];
            fds[n].events = events;
            fds[n].revents = 0;
            ++n;
        }
        struct timeval tv, *tvp = ares_timeout(r->channel, NULL, &tv);
        int ms = tvp ? (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000) : 1000;
        if (poll(fds, (nfds_t)n, ms) < 0) {
            perror("poll");
            exit(1);
        }
        int any = 0;
        for (int i = 0; i < n; ++i) {
            if (!fds[i].revents) continue;
            any = 1;
            ares_process_fd(r->channel, (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD,
                            (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD);
        }
        if (!any) ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
    }
    const double cpu = cpu_seconds() - cpu0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (r->failed) {
        fprintf(stderr, "ares_client: %s: %d bad replies\n", label, r->failed);
        exit(1);
    }
    printf("%s %.0f %.2f\n", label, r->count / (seconds(&t1) - seconds(&t0)), cpu * 1e6 / r->count);
}

int main(int argc, char** argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: ares_client PORT NAMES WINDOW ZONE [ROUND]\n");
        return 1;
    }
    const int port = atoi(argv[1]);
    struct run r = {0};
    r.count = atoi(argv[2]);
    const int window = atoi(argv[3]);
    const char* zone = argv[4];
    const int round = argc > 5 ? atoi(argv[5]) : 0;

    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) return 1;
    struct ares_options options;
    memset(&options, 0, sizeof options);
    options.timeout = 5000;
    options.tries = 2;
    options.flags = ARES_FLAG_NOSEARCH;
    if (ares_init_options(&r.channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS) != ARES_SUCCESS)
        return 1;
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
    if (ares_set_servers_ports_csv(r.channel, servers) != ARES_SUCCESS) return 1;

    r.names = calloc((size_t)r.count, sizeof *r.names);
    for (int i = 0; i < r.count; ++i) {
        char name[256];
        snprintf(name, sizeof name, "q%d.r%d.cares.%s", i, round, zone);
        r.names[i] = strdup(name);
    }
    pass(&r, window, "cold");
    pass(&r, window, "warm");
    for (int i = 0; i < r.count; ++i) free(r.names[i]);
    free(r.names);
    ares_destroy(r.channel);
    ares_library_cleanup();
    return 0;
}
