#!/usr/bin/env bash
# bench/dns_cost.sh: user-space instructions (callgrind) and heap
# allocations (bench/malloc_count.c, LD_PRELOAD) per uncached DNS query,
# Pants' resolver beside c-ares, against a local dnsmasq without a cache.
# Unlike CPU time these counts do not depend on how busy the machine is.
#
# Usage: bench/dns_cost.sh
#
# Method (bench/README.md, "DNS"): `dns_bench PORT PORT N 32 bench.test N`
# at N = 1,000 and 2,000 (both backends, every workload of dns_bench), and
# the difference divided by the 10,000 extra network queries; c-ares:
# bench/peers/ares_client at the same N, 2,000 extra queries.
# Cached row: a cache hit through Resolver::query, the same way: two runs
# at N = 1,000 that differ only in DNS_BENCH_CACHED_ROUNDS (1 and 3), the
# difference divided by the 4,000 extra cache hits (2,000 per backend).
# Needs valgrind and dnsmasq (dnsmasq-base); c-ares columns need
# libc-ares-dev. Builds build-release/ (as bench/dns.sh does) if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "bench/dns_cost.sh: valgrind missing" >&2; exit 1; }
dnsmasq=/usr/sbin/dnsmasq
[[ -x $dnsmasq ]] || { echo "bench/dns_cost.sh: $dnsmasq missing (dnsmasq-base)" >&2; exit 1; }
build=${PANTS_BUILD:-build-release}
[[ -d $build ]] || meson setup "$build" -Dbuildtype=release -Dtests=false -Dexamples=false -Dbench=true >/dev/null
out=$(ninja -C "$build" bench/dns_bench 2>&1) || { echo "$out" >&2; exit 1; }
cc -O2 -shared -fPIC -o "$build/bench/malloc_count.so" bench/malloc_count.c
ares=
if [[ -f /usr/include/ares.h ]]; then
    ares=$build/bench/ares_client
    cc -O2 -Wall -o "$ares" bench/peers/ares_client.c -lcares
fi

tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$dnsmasq" --no-daemon --no-resolv --no-hosts --pid-file= --listen-address=127.0.0.1 --bind-interfaces \
    --port="$port" --address=/bench.test/192.0.2.1 --local-ttl=3600 --cache-size=0 >"$tmp/dnsmasq.log" 2>&1 &
dnsmasq_pid=$!
trap 'kill $dnsmasq_pid 2>/dev/null; wait $dnsmasq_pid 2>/dev/null; rm -rf "$tmp"' EXIT
ready=
for _ in $(seq 50); do
    python3 - "$port" <<'PY' && { ready=1; break; }
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.1)
s.sendto(bytes.fromhex("abcd01000001000000000000") + b"\x05ready\x05bench\x04test\x00\x00\x01\x00\x01", ("127.0.0.1", int(sys.argv[1])))
try: s.recvfrom(512)
except OSError: sys.exit(1)
PY
done
[[ -n $ready ]] || { cat "$tmp/dnsmasq.log" >&2; echo "bench/dns_cost.sh: dnsmasq does not answer" >&2; exit 1; }

# fail WHAT: says what went wrong, shows the last run's output, and stops.
fail() {
    echo "bench/dns_cost.sh: $1" >&2
    [[ -s $tmp/run.log ]] && tail -n 20 "$tmp/run.log" >&2
    exit 1
}
# count WHAT VALUE: VALUE, which must be a whole number.
count() {
    [[ $2 =~ ^[0-9]+$ ]] || fail "$1: no count (got '$2')"
    echo "$2"
}
# instructions CMD...: total user-space instructions of CMD under callgrind.
instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$@" >"$tmp/run.log" 2>&1 ||
        fail "$* failed under callgrind"
    count "instructions of $*" "$(callgrind_annotate "$tmp/cg.out" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')"
}
# allocations CMD...: heap allocations of CMD.
allocations() {
    LD_PRELOAD=$PWD/$build/bench/malloc_count.so "$@" >/dev/null 2>"$tmp/run.log" || fail "$* failed"
    count "allocations of $*" "$(awk '/^malloc_count:/ {print $2}' "$tmp/run.log")"
}
# per A B N: (B - A) / N, one decimal.
per() { python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / int(sys.argv[3]):.1f}')" "$@"; }

# Each figure is assigned before it is printed, so that a failing run
# stops the script (set -e) instead of leaving a blank in the table.
bench=$build/bench/dns_bench
i1=$(instructions "$bench" "$port" "$port" 1000 32 bench.test 1000)
i2=$(instructions "$bench" "$port" "$port" 2000 32 bench.test 2000)
a1=$(allocations "$bench" "$port" "$port" 1000 32 bench.test 1000)
a2=$(allocations "$bench" "$port" "$port" 2000 32 bench.test 2000)
printf '%-8s %14s %14s\n' "client" "instr/query" "allocs/query"
printf '%-8s %14s %14s\n' pants "$(per "$i1" "$i2" 10000)" "$(per "$a1" "$a2" 10000)"
i1=$(DNS_BENCH_CACHED_ROUNDS=1 instructions "$bench" "$port" "$port" 1000 32 bench.test 1000)
i3=$(DNS_BENCH_CACHED_ROUNDS=3 instructions "$bench" "$port" "$port" 1000 32 bench.test 1000)
a1=$(DNS_BENCH_CACHED_ROUNDS=1 allocations "$bench" "$port" "$port" 1000 32 bench.test 1000)
a3=$(DNS_BENCH_CACHED_ROUNDS=3 allocations "$bench" "$port" "$port" 1000 32 bench.test 1000)
printf '%-8s %14s %14s\n' "cached" "$(per "$i1" "$i3" 4000)" "$(per "$a1" "$a3" 4000)"
if [[ -n $ares ]]; then
    i1=$(instructions "$ares" "$port" 1000 32 bench.test)
    i2=$(instructions "$ares" "$port" 2000 32 bench.test)
    a1=$(allocations "$ares" "$port" 1000 32 bench.test)
    a2=$(allocations "$ares" "$port" 2000 32 bench.test)
    printf '%-8s %14s %14s\n' c-ares "$(per "$i1" "$i2" 2000)" "$(per "$a1" "$a2" 2000)"
fi
