#!/usr/bin/env bash
# bench/udp.sh: datagrams per second through a UDP echo server, io_uring vs
# epoll, in one run (bench/udp_bench.cpp does the work).
#
# Usage:
#   bench/udp.sh [SECONDS [SOCKETS [WINDOW [SIZE [BATCH [BACKEND [ROUNDS]]]]]]]
#
#   SECONDS   measured time per backend (default 3), split into ROUNDS
#   SOCKETS   client sockets (default 8)
#   WINDOW    datagrams in flight per socket (default 16)
#   SIZE      bytes per datagram (default 64)
#   BATCH     datagrams per client system call (default 16): sent as one
#             sendmsg with UDP_SEGMENT (GSO), received with recvmmsg on a
#             UDP_GRO socket (a GSO batch the server sends comes back
#             whole); 1 = one recv and one send per datagram, no GSO/GRO.
#             Batches of 16 without GSO/GRO (the client until stop 15)
#             cost more per datagram than the server, so that the client,
#             not the server, set the pace
#   BACKEND   io_uring or epoll: run only that one (for profiling);
#             both (default): both
#   ROUNDS    rounds (default 5), the backends alternating, each with a
#             new server; every figure is the median of the rounds, each
#             ratio the median of the rounds' ratios (and their range)
#
# Builds build-release/ (a release build, as ./run.sh does) if needed, then
# prints datagrams/s, the server thread's CPU time and sleeps (voluntary
# context switches) per echoed datagram and the client thread's CPU time
# per datagram (it should be below the server's: else the client is the
# limit) for each backend, and the ratios
# (above 1: io_uring is faster, or cheaper). CPU per datagram is the steadier figure on a busy machine;
# datagrams/s mean something only on an idle one.
# Every echo is verified (sequence number and checksum); lost, corrupt or
# unexpected echoes and send/receive errors are counted on each backend's
# line, and any of them makes the run print "udp_bench: FAIL ..." lines on
# stderr and exit with status 2 (1: bad usage or no server).
# PANTS_BUILD=<dir> uses another release build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${PANTS_BUILD:-build-release}
if [[ ! -d $build ]]; then
    meson setup "$build" -Dbuildtype=release -Dtests=false -Dexamples=false -Dbench=true >/dev/null
fi
ninja -C "$build" bench/udp_bench >/dev/null
exec "$build/bench/udp_bench" "$@"
