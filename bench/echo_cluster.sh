#!/usr/bin/env bash
# bench/echo_cluster.sh: the echo server as a cluster of 1 and of N engines,
# in one run: messages per second and server CPU per message.
#
# Usage:
#   bench/echo_cluster.sh [-t THREADS] [-c CONNECTIONS] [-s SIZE] [-d SECONDS] [-g LOADGEN_THREADS] [-b BUILD_DIR]
#
#   -b BUILD_DIR    where to build and find the binaries (default build-release)
#   -t THREADS      engines of the second case (default: the CPUs we may use)
#   -c CONNECTIONS  concurrent connections (default 100)
#   -s SIZE         message size in bytes (default 64)
#   -d SECONDS      measured time per case and backend (default 5)
#   -g THREADS      load generator threads (default 1)
#
# For each backend (io_uring, epoll) and each engine count (1, THREADS) it
# runs build-release/examples/echo_cluster with that many engines
# (SO_REUSEPORT: each engine listens on port 4000), drives it with
# build-release/bench/loadgen, and reads the server's CPU time (user +
# system, /proc/PID/stat) before and after the measurement. It prints:
#
#   msgs/s      echoed messages per second
#   cpu us/msg  server CPU microseconds per echoed message (all its threads)
#   scale       msgs/s with THREADS engines / msgs/s with 1
#
# Nothing is pinned: the server's engines and the load generator share
# the machine's CPUs, so on a small machine the load generator competes
# with the engines (see the README for measuring many cores).
set -euo pipefail
cd "$(dirname "$0")/.."

threads=$(nproc)
conns=100
size=64
duration=5
gen_threads=1
build=build-release
while getopts "t:c:s:d:g:b:h" opt; do
    case $opt in
        t) threads=$OPTARG ;;
        c) conns=$OPTARG ;;
        s) size=$OPTARG ;;
        d) duration=$OPTARG ;;
        g) gen_threads=$OPTARG ;;
        b) build=$OPTARG ;;
        *) sed -n '2,16p' "$0" >&2; exit 2 ;;
    esac
done

port=4000
server_bin=$build/examples/echo_cluster
loadgen_bin=$build/bench/loadgen
source scripts/server_process.sh  # $tmp, $server_pid, cleanup on exit

if [[ ! -f $build/build.ninja ]]; then
    source scripts/deps.sh
    pants_require_packages "${PANTS_BUILD_PACKAGES[@]}"
    pants_setup "$build" -Dbuildtype=release -Dtests=false -Dexamples=true -Dbench=true
fi
ninja -C "$build" examples/echo_cluster bench/loadgen >/dev/null

if listening; then
    echo "echo_cluster.sh: something already listens on port $port; stop it first" >&2
    exit 1
fi

# CPU ticks (user + system) of process $1, all threads.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# Runs one case: backend $1, $2 engines. Prints "msgs/s cpu_us_per_msg".
run_case() {
    PANTS_BACKEND=$1 "$server_bin" "$2" >"$tmp/server.log" 2>&1 &
    server_pid=$!
    local deadline=$((SECONDS + 5))
    until listening; do
        if ! kill -0 "$server_pid" 2>/dev/null || (( SECONDS >= deadline )); then
            echo "FAIL FAIL"
            return
        fi
        sleep 0.02
    done
    # Warm-up outside the CPU reading, then the measured run.
    timeout 30 "$loadgen_bin" --port "$port" --connections "$conns" --size "$size" --duration 0.5 \
        --threads "$gen_threads" --csv >/dev/null 2>&1 || true
    local before after out
    before=$(cpu_ticks "$server_pid")
    out=$(timeout $(( ${duration%.*} + 30 )) "$loadgen_bin" --port "$port" --connections "$conns" \
        --size "$size" --duration "$duration" --threads "$gen_threads" --csv 2>/dev/null) || out=
    after=$(cpu_ticks "$server_pid")
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    deadline=$((SECONDS + 3))
    while listening && (( SECONDS < deadline )); do sleep 0.02; done
    if [[ -z $out ]]; then
        echo "FAIL FAIL"
        return
    fi
    local msgs rate
    msgs=$(cut -d, -f5 <<<"$out")
    rate=$(cut -d, -f6 <<<"$out")
    awk -v r="$rate" -v m="$msgs" -v t=$((after - before)) -v hz="$hz" \
        'BEGIN { printf "%s %.2f\n", r, (m > 0 ? t / hz * 1e6 / m : 0) }'
}

echo "echo_cluster.sh: $conns connections, $size B, ${duration} s per case, loadgen threads $gen_threads," \
     "$(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %8s %12s %11s %7s\n' backend engines msgs/s "cpu us/msg" scale
for backend in io_uring epoll; do
    read -r one_rate one_cpu < <(run_case "$backend" 1)
    printf '%-9s %8s %12s %11s %7s\n' "$backend" 1 "$one_rate" "$one_cpu" 1.00
    if [[ $threads != 1 ]]; then
        read -r n_rate n_cpu < <(run_case "$backend" "$threads")
        scale=$(awk -v a="$n_rate" -v b="$one_rate" 'BEGIN { printf (b > 0 ? "%.2f" : "-"), a / (b > 0 ? b : 1) }')
        printf '%-9s %8s %12s %11s %7s\n' "$backend" "$threads" "$n_rate" "$n_cpu" "$scale"
    fi
done
