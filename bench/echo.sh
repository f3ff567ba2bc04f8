#!/usr/bin/env bash
# bench/echo.sh: the echo server under io_uring and under epoll, and the
# peer servers of bench/peers/ (hand-written liburing and epoll loops, Asio,
# libuv), in one run.
#
# Usage:
#   bench/echo.sh [-d SECONDS] [-p DEPTH] [-s echo|echo_coro] [-w SECONDS]
#
#   -d SECONDS   measured time per case and backend (default 5)
#   -p DEPTH     messages in flight per connection (default 1)
#   -s SERVER    which example server to run: echo (callbacks, default) or
#                echo_coro (coroutines)
#   -w SECONDS   warm-up before each measurement (default 0.5)
#
# It builds build-release/ if needed (release build, as ./run.sh does) and
# the peers whose packages are installed (bench/peers/build.sh), then for
# each case runs build-release/examples/<SERVER> with PANTS_BACKEND=io_uring,
# then with PANTS_BACKEND=epoll, then each peer, the server pinned to CPU 0
# and build-release/bench/loadgen pinned to CPU 1, and prints one table:
#
#   case            1, 50 and 500 connections at 64 B, 50 connections at 4 KiB
#   msgs/s          echoed messages per second
#   p99             99th percentile round-trip latency in microseconds
#   cpu/msg         server CPU time (user + system, from /proc/PID/stat over
#                   the measured window) per echoed message, in microseconds
#   x loop          cpu/msg / cpu/msg of the hand-written C loop on the same
#                   backend (uring_c for io_uring, epoll_c for epoll, Asio and
#                   libuv); 1.10 means 10% more CPU per message than the loop
#
# and under each case the ratio io_uring msgs/s / epoll msgs/s for Pants
# (above 1: io_uring is faster). Only the ratios are worth comparing across
# runs: on a shared machine absolute numbers swing by tens of percent.
#
# The servers listen on port 4000, so nothing else may listen there (the
# script checks and stops if something does). Each server is killed after its
# case; on exit or Ctrl-C everything it started is cleaned up. A case whose
# server fails (does not start, crashes, loses bytes, hangs) is marked FAIL in
# the table and its details are printed underneath; the exit status is then 1.
# Numbers are only meaningful on an otherwise idle machine with >= 2 CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=5
pipeline=1
server=echo
warmup=0.5
while getopts "d:p:s:w:h" opt; do
    case $opt in
        d) duration=$OPTARG ;;
        p) pipeline=$OPTARG ;;
        s) server=$OPTARG ;;
        w) warmup=$OPTARG ;;
        *) sed -n '2,12p' "$0" >&2; exit 2 ;;
    esac
done
[[ $server == echo || $server == echo_coro ]] || { echo "echo.sh: -s must be echo or echo_coro" >&2; exit 2; }

port=4000
# name connections size
cases=("1 conn, 64 B:1:64" "50 conns, 64 B:50:64" "500 conns, 64 B:500:64" "50 conns, 4 KiB:50:4096")

build=build-release
server_bin=$build/examples/$server
loadgen_bin=$build/bench/loadgen

source scripts/server_process.sh  # $tmp, $server_pid, cleanup on exit

# --- build -------------------------------------------------------------------
if [[ ! -f $build/build.ninja ]]; then
    source scripts/deps.sh
    pants_require_packages "${PANTS_BUILD_PACKAGES[@]}"
    pants_setup "$build" -Dbuildtype=release -Dtests=false -Dexamples=true -Dbench=true
fi
if ! ninja -C "$build" -t targets all 2>/dev/null | grep -q "^examples/$server:"; then
    meson configure "$build" -Dexamples=true -Dbench=true >/dev/null
fi
ninja -C "$build" "examples/$server" bench/loadgen >/dev/null
declare -A peer_bin=()
while read -r name path; do peer_bin[$name]=$path; done < <(bench/peers/build.sh "$build/peers")

# label|command|PANTS_BACKEND (checked; "" for a peer)|loop to compare with
servers=("pants io_uring|$server_bin|io_uring|uring_c" "pants epoll|$server_bin|epoll|epoll_c")
for p in uring_c epoll_c asio_uring asio_epoll libuv; do
    [[ -n ${peer_bin[$p]:-} ]] || continue
    ref=epoll_c
    [[ $p == uring_c || $p == asio_uring ]] && ref=uring_c
    servers+=("$p|${peer_bin[$p]} $port||$ref")
done

if (( $(nproc) < 2 )); then
    echo "echo.sh: needs 2 CPUs (server on CPU 0, load on CPU 1); this machine has $(nproc)" >&2
    exit 1
fi

# --- helpers -----------------------------------------------------------------

if listening; then
    echo "echo.sh: something already listens on port $port; stop it first (it would be measured instead):" >&2
    ss -ltnp "sport = :$port" >&2 2>/dev/null || true
    exit 1
fi

# The server's CPU time in clock ticks, appended to a file: loadgen runs
# this at the start and the end of its measurement window (--checkpoint).
cat >"$tmp/cpu_mark" <<'MARK'
#!/bin/sh
# cpu_mark PID FILE WHEN: utime + stime of PID (fields 14 and 15).
awk '{ print $14 + $15 }' "/proc/$1/stat" >>"$2"
MARK
chmod +x "$tmp/cpu_mark"
ticks=$(getconf CLK_TCK)

# Runs one case: server entry $1, $2 connections of $3 bytes; sets $result
# to "msgs/s p99 cpu_us_per_msg", or to FAIL, and appends what went wrong to
# $tmp/failures.
run_case() {
    local label cmd backend ref conns=$2 size=$3 out rc=0
    IFS='|' read -r label cmd backend ref <<<"$1"
    why=
    result=FAIL
    # shellcheck disable=SC2086  # cmd is a word list built above
    if ! start_server 5 "$backend" taskset -c 0 $cmd; then
        { echo "[$label, $conns conns, $size B] $why"; sed 's/^/    server: /' "$tmp/server.log"; } >>"$tmp/failures"
        stop_server || true
        return
    fi
    rm -f "$tmp/cpu"
    # timeout: loadgen stops by itself; this only guards against a bug in it.
    out=$(timeout $(( ${duration%.*} + 30 )) taskset -c 1 "$loadgen_bin" --host 127.0.0.1 --port "$port" \
        --connections "$conns" --size "$size" --pipeline "$pipeline" --duration "$duration" \
        --warmup "$warmup" --threads 1 --csv --checkpoint "$tmp/cpu_mark $server_pid $tmp/cpu" \
        2>"$tmp/loadgen.err") || rc=$?
    stop_server || true
    if (( rc != 0 )) || [[ -n $why ]] || [[ -s $tmp/server.log ]]; then
        {
            echo "[$label, $conns conns, $size B] loadgen exit status $rc${why:+; $why}"
            sed 's/^/    loadgen: /' "$tmp/loadgen.err"
            sed 's/^/    server: /' "$tmp/server.log"
        } >>"$tmp/failures"
    fi
    if (( rc == 0 )) && [[ -n $out ]]; then
        local cpu
        cpu=$(awk -v t="$ticks" -v msgs="$(field "$out" 5)" 'NR == 1 { a = $1 } NR == 2 { b = $1 }
            END { printf "%.2f", (msgs > 0 ? (b - a) / t * 1e6 / msgs : 0) }' "$tmp/cpu")
        result="$(field "$out" 6) $(field "$out" 9) $cpu"
    fi
}

field() { cut -d, -f"$2" <<<"$1"; }  # CSV columns: see loadgen --csv-header

# --- run ---------------------------------------------------------------------
echo "echo.sh: server examples/$server on CPU 0, loadgen on CPU 1, ${duration} s per case, pipeline $pipeline," \
     "$(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$tmp/failures"
rows=()
for c in "${cases[@]}"; do
    IFS=: read -r name conns size <<<"$c"
    declare -A res=()
    for s in "${servers[@]}"; do
        label=${s%%|*}
        run_case "$s" "$conns" "$size"
        res[$label]=$result
        # Progress on stderr: loadgen's own summary line (it prints it there with --csv).
        echo "  $name, $label: $(grep '^conns=' "$tmp/loadgen.err" 2>/dev/null || echo FAIL)" >&2
    done
    for s in "${servers[@]}"; do
        IFS='|' read -r label cmd backend ref <<<"$s"
        r=${res[$label]}
        if [[ $r == FAIL ]]; then
            rows+=("$(printf '%-18s %-15s %10s %9s %9s %7s' "$name" "$label" FAIL - - -)")
            continue
        fi
        read -r rate p99 cpu <<<"$r"
        x=-
        base=${res[$ref]:-FAIL}
        if [[ $base != FAIL ]]; then
            x=$(awk -v a="$cpu" -v b="$(cut -d' ' -f3 <<<"$base")" 'BEGIN { printf (b > 0 ? "%.2f" : "-"), a / (b > 0 ? b : 1) }')
        fi
        rows+=("$(printf '%-18s %-15s %10s %9s %9s %7s' "$name" "$label" "$rate" "$p99" "$cpu" "$x")")
    done
    u=${res["pants io_uring"]} e=${res["pants epoll"]}
    if [[ $u != FAIL && $e != FAIL ]]; then
        rows+=("$(printf '%-18s %-15s %10s' "" "pants u/e" \
            "$(awk -v a="${u%% *}" -v b="${e%% *}" 'BEGIN { printf (b > 0 ? "%.2f" : "-"), a / (b > 0 ? b : 1) }')")")
    fi
    unset res
done

echo
printf '%-18s %-15s %10s %9s %9s %7s\n' "case" "server" "msgs/s" "p99 us" "cpu/msg" "x loop"
printf '%-18s %-15s %10s %9s %9s %7s\n' "" "" "" "" "us" "cpu"
printf '%s\n' "${rows[@]}"

if [[ -s $tmp/failures ]]; then
    echo
    echo "Problems:"
    cat "$tmp/failures"
    exit 1
fi
