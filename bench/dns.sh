#!/usr/bin/env bash
# bench/dns.sh: DNS through pants::dns::Resolver beside a c-ares client,
# against the same local dnsmasq, io_uring vs epoll, in one run:
# queries per second and CPU per query (bench/dns_bench.cpp and
# bench/peers/ares_client.c do the querying).
#
# Usage:
#   bench/dns.sh [NAMES [WINDOW [BIG [ROUNDS]]]]
#
#   NAMES    distinct names asked per client and round (default 2000)
#   WINDOW   queries in flight (default 32)
#   BIG      names of the fill-big workload (default 100000)
#   ROUNDS   rounds of every other workload (default 15); each figure is
#            the median of the rounds, each ratio the median of the
#            rounds' ratios
#
# Starts two dnsmasq on free loopback ports and stops them on exit:
#   upstream  answers any *.bench.test with 192.0.2.1 (TTL 3600) from its
#             configuration, no cache involved;
#   front     a caching forwarder to upstream.
# Workloads (see bench/dns_bench.cpp): cold (front forwards each name
# upstream) and warm (front answers from its cache), both without the
# Resolver's cache, as c-ares 1.18 (which has none) does them; cached (our
# cache answers); fill and fill-big (every answer stored in our cache, 2000
# vs 100000 names, asked of upstream directly). Every round asks names
# new to both servers, so cold stays cold; within a round the clients
# (c-ares, io_uring, epoll) take turns. A 2,000-name workload lasts about
# 0.1 s: one round alone is too short for a steady CPU figure. The front's
# cache holds every name of the run: a full dnsmasq cache evicts a live
# entry by first scanning the whole cache for expired ones, so once full
# each cold query would cost dnsmasq a scan and the cold rate would fall
# fourfold.
# The c-ares client is built (cc, -lcares) when Debian's libc-ares-dev is
# installed; without it the c-ares columns are left out.
#
# dnsmasq is single-threaded: past some rate it, not the client, is the
# limit, and q/s ratios tend to 1; CPU per query is the steadier figure.
# Numbers mean something only on an idle machine.
# Builds build-release/ (as ./run.sh does) if needed; PANTS_BUILD=<dir>
# uses another release build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
names=${1:-2000}
window=${2:-32}
big=${3:-100000}
rounds=${4:-15}

dnsmasq=/usr/sbin/dnsmasq
[[ -x $dnsmasq ]] || { echo "bench/dns.sh: $dnsmasq missing (Debian package dnsmasq-base)" >&2; exit 1; }

build=${PANTS_BUILD:-build-release}
if [[ ! -d $build ]]; then
    meson setup "$build" -Dbuildtype=release -Dtests=false -Dexamples=false -Dbench=true >/dev/null
fi
ninja -C "$build" bench/dns_bench >/dev/null
ares_client=
if [[ -f /usr/include/ares.h ]]; then
    ares_client=$build/bench/ares_client
    cc -O2 -Wall -o "$ares_client" bench/peers/ares_client.c -lcares
else
    echo "bench/dns.sh: no c-ares (Debian package libc-ares-dev): its columns are left out" >&2
fi

# A loopback port free for UDP and TCP right now (the kernel picks it).
free_port() {
    python3 -c 'import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); p = u.getsockname()[1]
    t = socket.socket(); 
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: t.close(); u.close()'
}

pids=()
logs=$(mktemp -d)
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$logs"
}
trap cleanup EXIT

# Starts dnsmasq on port $1 with the remaining arguments; waits until it answers.
start_dnsmasq() {
    local port=$1 i
    shift
    "$dnsmasq" --no-daemon --no-resolv --no-hosts --pid-file= --listen-address=127.0.0.1 --bind-interfaces \
        --port="$port" "$@" >"$logs/$port.log" 2>&1 &
    pids+=($!)
    for i in $(seq 100); do
        if python3 - "$port" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.1)
q = bytes.fromhex("abcd01000001000000000000") + b"\x05ready\x05bench\x04test\x00\x00\x01\x00\x01"
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
try: s.recvfrom(512)
except OSError: sys.exit(1)
PY
        then return 0; fi
        kill -0 "${pids[-1]}" 2>/dev/null || break
    done
    echo "bench/dns.sh: dnsmasq on port $port did not start:" >&2
    cat "$logs/$port.log" >&2
    exit 1
}

upstream=$(free_port)
start_dnsmasq "$upstream" --address=/bench.test/192.0.2.1 --local-ttl=3600 --cache-size=0
front=$(free_port)
start_dnsmasq "$front" --server=/bench.test/127.0.0.1#"$upstream" --cache-size=$(( (3 * rounds + 1) * names )) \
    --dns-forward-max=1000

"$build/bench/dns_bench" "$front" "$upstream" "$names" "$window" bench.test "$big" "$rounds" $ares_client
