#!/usr/bin/env bash
# bench/tls.sh: TLS against plain TCP, under io_uring and under epoll, in one run.
#
# Usage: bench/tls.sh [-d SECONDS]      measured time per case and backend (default 5)
#
# Builds build-release/ if needed, makes a throwaway certificate, then for
# each case and backend runs the server (examples/echo for plain TCP,
# examples/tls_echo for TLS, both on port 4000) pinned to CPU 0 with that
# PANTS_BACKEND, and build-release/bench/tls_loadgen pinned to CPU 1 (always
# on epoll, so only the server changes). Cases:
#   echo 50 conns, 64 B and 4 KiB     echoed messages/s, plain and TLS
#   handshakes full / resumed         new TLS connections/s (8 in parallel,
#                                     each: handshake, one byte echoed, end)
# Prints one table: per case the io_uring and epoll rates and their ratio,
# and for the echo cases TLS/plain on each backend. A failed case is FAIL
# and makes the exit status 1. Meaningful only on an idle machine with >= 2 CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=5
while getopts "d:h" opt; do
    case $opt in
        d) duration=$OPTARG ;;
        *) sed -n '2,4p' "$0" >&2; exit 2 ;;
    esac
done

port=4000
build=${PANTS_BENCH_BUILD:-build-release}  # another build directory: PANTS_BENCH_BUILD
source scripts/server_process.sh  # $tmp, $server_pid, cleanup on exit

if [[ ! -f $build/build.ninja ]]; then
    source scripts/deps.sh
    pants_require_packages "${PANTS_BUILD_PACKAGES[@]}" openssl
    pants_setup "$build" -Dbuildtype=release -Dtests=false -Dexamples=true -Dbench=true
fi
ninja -C "$build" examples/echo examples/tls_echo bench/tls_loadgen >/dev/null
(( $(nproc) >= 2 )) || { echo "tls.sh: needs 2 CPUs" >&2; exit 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null

if listening; then echo "tls.sh: something already listens on port $port" >&2; exit 1; fi

# run_case BACKEND SERVER LOADGEN-ARGS...: sets $result (a rate, or FAIL).
run_case() {
    local backend=$1 server=$2 out rc=0
    shift 2
    result=FAIL
    local cmd=("$build/examples/echo")
    [[ $server == tls ]] && cmd=("$build/examples/tls_echo" "$tmp/cert.pem" "$tmp/key.pem" "$port")
    if ! start_server 5 "$backend" taskset -c 0 "${cmd[@]}"; then
        { echo "[$backend $server $*] $why"; sed 's/^/    server: /' "$tmp/server.log"; } >>"$tmp/failures"
        stop_server || true
        return
    fi
    out=$(PANTS_BACKEND=epoll timeout $(( ${duration%.*} + 30 )) taskset -c 1 "$build/bench/tls_loadgen" "$@" \
        2>"$tmp/loadgen.err") || rc=$?
    stop_server || { echo "[$backend $server $*] $why" >>"$tmp/failures"; return; }
    if (( rc != 0 )) || [[ -z $out ]]; then
        { echo "[$backend $server $*] loadgen exit status $rc"; sed 's/^/    /' "$tmp/loadgen.err"; } >>"$tmp/failures"
        return
    fi
    result=$out
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "FAIL" || b == "FAIL" || b == 0) print "-"; else printf "%.2f", a / b }'; }

echo "tls.sh: server on CPU 0, tls_loadgen (epoll) on CPU 1, ${duration} s per case, $(uname -r)," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$tmp/failures"
declare -A r
for b in io_uring epoll; do
    for size in 64 4096; do
        run_case "$b" plain echo "$port" 50 "$size" "$duration"
        r[$b,plain,$size]=$result
        run_case "$b" tls echo "$port" 50 "$size" "$duration" "$tmp/cert.pem"
        r[$b,tls,$size]=$result
        echo "  $b $size B: plain ${r[$b,plain,$size]}, tls ${r[$b,tls,$size]} msgs/s" >&2
    done
    for kind in full resumed; do
        run_case "$b" tls handshake "$port" 8 "$duration" "$tmp/cert.pem" "$kind"
        r[$b,hs,$kind]=$result
        echo "  $b handshakes $kind: ${r[$b,hs,$kind]}/s" >&2
    done
done

echo
printf '%-28s %12s %12s %7s %16s %16s\n' case io_uring/s epoll/s u/e "TLS/plain uring" "TLS/plain epoll"
for size in 64 4096; do
    label="echo 50 conns, $size B"
    printf '%-28s %12s %12s %7s %16s %16s\n' "$label, plain" "${r[io_uring,plain,$size]}" "${r[epoll,plain,$size]}" \
        "$(ratio "${r[io_uring,plain,$size]}" "${r[epoll,plain,$size]}")" "" ""
    printf '%-28s %12s %12s %7s %16s %16s\n' "$label, TLS" "${r[io_uring,tls,$size]}" "${r[epoll,tls,$size]}" \
        "$(ratio "${r[io_uring,tls,$size]}" "${r[epoll,tls,$size]}")" \
        "$(ratio "${r[io_uring,tls,$size]}" "${r[io_uring,plain,$size]}")" \
        "$(ratio "${r[epoll,tls,$size]}" "${r[epoll,plain,$size]}")"
done
for kind in full resumed; do
    printf '%-28s %12s %12s %7s\n' "TLS handshakes, $kind" "${r[io_uring,hs,$kind]}" "${r[epoll,hs,$kind]}" \
        "$(ratio "${r[io_uring,hs,$kind]}" "${r[epoll,hs,$kind]}")"
done
if [[ -s $tmp/failures ]]; then
    echo
    echo "Problems:"
    cat "$tmp/failures"
    exit 1
fi
