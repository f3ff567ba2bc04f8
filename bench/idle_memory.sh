#!/usr/bin/env bash
# bench/idle_memory.sh: server memory per idle connection.
#
# Usage:
#   bench/idle_memory.sh [-n CONNECTIONS] [-s echo|echo_coro]
#
#   -n N       idle connections to open (default 10000; the hard descriptor
#              limit must allow N + a few on both sides)
#   -s SERVER  examples/echo (callbacks, default) or examples/echo_coro
#
# For each backend (io_uring, epoll) and each peer of bench/peers/ that is
# built, it starts the server, reads its VmRSS (/proc/PID/status), opens N
# connections with build-release/bench/loadgen, each of which echoes one
# byte and then sits idle, reads VmRSS again while they are all open, and
# prints (after - before) / N: the user-space memory one idle connection
# costs. Kernel socket buffers are not in VmRSS and not counted.
set -euo pipefail
cd "$(dirname "$0")/.."

conns=10000
server=echo
while getopts "n:s:h" opt; do
    case $opt in
        n) conns=$OPTARG ;;
        s) server=$OPTARG ;;
        *) sed -n '2,17p' "$0" >&2; exit 2 ;;
    esac
done
[[ $server == echo || $server == echo_coro ]] || { echo "idle_memory.sh: -s must be echo or echo_coro" >&2; exit 2; }

port=4000
build=build-release
# Both sides need N descriptors (plus the ones every process has).
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < conns + 64 )); then
    echo "idle_memory.sh: the descriptor limit ($(ulimit -Hn)) is too low for $conns connections" >&2
    exit 1
fi

source scripts/server_process.sh  # $tmp, $server_pid, cleanup on exit

if [[ ! -f $build/build.ninja ]]; then
    source scripts/deps.sh
    pants_require_packages "${PANTS_BUILD_PACKAGES[@]}"
    pants_setup "$build" -Dbuildtype=release -Dtests=false -Dexamples=true -Dbench=true
fi
ninja -C "$build" "examples/$server" bench/loadgen >/dev/null
declare -A peer_bin=()
while read -r name path; do peer_bin[$name]=$path; done < <(bench/peers/build.sh "$build/peers")

servers=("pants io_uring|$build/examples/$server|io_uring" "pants epoll|$build/examples/$server|epoll")
for p in uring_c epoll_c asio_uring asio_epoll libuv; do
    [[ -n ${peer_bin[$p]:-} ]] && servers+=("$p|${peer_bin[$p]} $port|")
done

if listening; then
    echo "idle_memory.sh: something already listens on port $port; stop it first" >&2
    exit 1
fi
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# The checkpoint loadgen runs once every connection has echoed its byte.
cat >"$tmp/mark" <<'MARK'
#!/bin/sh
# mark PID FILE STAGE: VmRSS of PID in KiB, at the "measured" checkpoint.
[ "$3" = measured ] && awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" >"$2"
exit 0
MARK
chmod +x "$tmp/mark"

echo "idle_memory.sh: $conns idle connections (one byte echoed each), examples/$server, $(uname -r)"
printf '%-16s %12s %12s %14s\n' "server" "before KiB" "idle KiB" "bytes/conn"
status=0
for s in "${servers[@]}"; do
    IFS='|' read -r label cmd backend <<<"$s"
    # shellcheck disable=SC2086  # cmd is a word list built above
    PANTS_BACKEND=${backend:-io_uring} $cmd >"$tmp/server.log" 2>&1 &
    server_pid=$!
    deadline=$((SECONDS + 10))
    until listening || (( SECONDS >= deadline )); do sleep 0.05; done
    before=$(rss_kib "$server_pid")
    rm -f "$tmp/rss"
    if timeout 300 "$build/bench/loadgen" --port "$port" --connections "$conns" --size 1 --messages "$conns" \
        --checkpoint "$tmp/mark $server_pid $tmp/rss" >"$tmp/loadgen.out" 2>&1 && [[ -s $tmp/rss ]]; then
        after=$(cat "$tmp/rss")
        printf '%-16s %12s %12s %14s\n' "$label" "$before" "$after" \
            "$(awk -v a="$after" -v b="$before" -v n="$conns" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }')"
    else
        printf '%-16s %12s %12s %14s\n' "$label" "$before" FAIL -
        sed 's/^/    loadgen: /' "$tmp/loadgen.out"
        sed 's/^/    server: /' "$tmp/server.log"
        status=1
    fi
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    deadline=$((SECONDS + 5))
    while listening && (( SECONDS < deadline )); do sleep 0.05; done
done
exit $status
