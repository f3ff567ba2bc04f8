// bench/ring_fd_enter.c: what a registered ring fd saves per io_uring_enter.
//
// Submits a NOP and waits for it, N times, on a ring set up as Pants sets
// up its own (SINGLE_ISSUER | DEFER_TASKRUN), with the ring fd plain or
// registered (io_uring_register_ring_fd), and prints the process CPU time
// per enter. The kernel's fd lookup is the only difference. Run the two
// alternately, pinned, a few times (issue 14: 499-512 ns plain, 427-477 ns
// registered, kernel 6.18):
//
//   cc -O2 bench/ring_fd_enter.c -o /tmp/ring_fd_enter -luring
//   for i in 1 2 3; do for r in 0 1; do taskset -c 0 /tmp/ring_fd_enter $r 2000000; done; done
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: ring_fd_enter REGISTERED(0|1) COUNT\n");
        return 2;
    }
    const int registered = atoi(argv[1]);
    const long count = atol(argv[2]);
    struct io_uring ring;
    struct io_uring_params p = {0};
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int r = io_uring_queue_init_params(64, &ring, &p);
    if (r < 0) {
        fprintf(stderr, "ring_fd_enter: io_uring_queue_init_params: %d\n", r);
        return 1;
    }
    if (registered && (r = io_uring_register_ring_fd(&ring)) != 1) {
        fprintf(stderr, "ring_fd_enter: io_uring_register_ring_fd: %d\n", r);
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    for (long i = 0; i < count; i++) {
        io_uring_prep_nop(io_uring_get_sqe(&ring));
        if ((r = io_uring_submit_and_wait(&ring, 1)) < 0) {
            fprintf(stderr, "ring_fd_enter: io_uring_submit_and_wait: %d\n", r);
            return 1;
        }
        struct io_uring_cqe* cqe;
        io_uring_peek_cqe(&ring, &cqe);
        io_uring_cqe_seen(&ring, cqe);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    const double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("registered=%d ns/enter=%.1f\n", registered, ns / (double)count);
    io_uring_queue_exit(&ring);
    return 0;
}
