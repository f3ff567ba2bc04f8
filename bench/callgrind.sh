#!/usr/bin/env bash
# bench/callgrind.sh: user-space instructions and system calls per echoed
# message, for Pants (both backends, both echo shapes) and the peer servers
# in bench/peers/, in one run. Instruction counts do not depend on how busy
# the machine is, so this is the figure to quote and to drive down.
#
# Usage:
#   bench/callgrind.sh [-c "1 50"] [-s 64] [-W 2000] [-M 20000] [-o REGEX] [-k DIR]
#
#   -c CONNS   connection counts to measure (default "1 50")
#   -s BYTES   message size (default 64)
#   -W N       warm-up round trips, not counted (default 2000)
#   -M N       measured round trips (default 20000)
#   -o REGEX   only the servers whose label matches (e.g. 'pants', 'epoll')
#   -k DIR     keep the callgrind dumps in DIR (for callgrind_annotate)
#
# Method (each server, each connection count): the server runs under
# `valgrind --tool=callgrind --collect-systime=nsec`; build-release/bench/
# loadgen sends W warm-up round trips of BYTES bytes spread over the
# connections, waits until all have come back, and runs `callgrind_control
# -d` (dump and zero the counters); then M measured round trips, and a
# second dump. That second dump holds exactly Ir(W+M) - Ir(W), the cost of
# the M messages without start-up and warm-up; the script divides by M.
#
#   instr    user-space instructions (Ir) per message
#   sys      system calls per message, clock_gettime excluded (valgrind has
#            no vDSO, so there every clock read is a real system call; it
#            is not one natively)
#   clock    clock_gettime calls per message (what the vDSO would answer)
#   x peer   instr / instr of the hand-written C loop on the same backend
#            (uring_c for io_uring rows, epoll_c for epoll, asio_epoll and
#            libuv rows); below 1 is fewer instructions than the C loop
#
# Builds build-release/ (as bench/echo.sh does) and the peers whose
# packages are installed (bench/peers/build.sh says which are skipped). The
# servers listen on port 4000, which must be free. Exit status 1 if a case
# failed (its row says FAIL and the reason is printed underneath).
set -euo pipefail
cd "$(dirname "$0")/.."

conn_counts="1 50"
size=64
warm=2000
measured=20000
only=
keep=
while getopts "c:s:W:M:o:k:h" opt; do
    case $opt in
        c) conn_counts=$OPTARG ;;
        s) size=$OPTARG ;;
        W) warm=$OPTARG ;;
        M) measured=$OPTARG ;;
        o) only=$OPTARG ;;
        k) keep=$OPTARG ;;
        *) sed -n '2,17p' "$0" >&2; exit 2 ;;
    esac
done

port=4000
build=build-release
loadgen_bin=$build/bench/loadgen

for tool in valgrind callgrind_control; do
    command -v $tool >/dev/null || { echo "callgrind.sh: needs $tool (Debian package valgrind)" >&2; exit 1; }
done

source scripts/server_process.sh  # $tmp, $server_pid, cleanup on exit

# --- build -------------------------------------------------------------------
if [[ ! -f $build/build.ninja ]]; then
    source scripts/deps.sh
    pants_require_packages "${PANTS_BUILD_PACKAGES[@]}"
    pants_setup "$build" -Dbuildtype=release -Dtests=false -Dexamples=true -Dbench=true
fi
if ! ninja -C "$build" -t targets all 2>/dev/null | grep -q "^examples/echo_coro:"; then
    meson configure "$build" -Dexamples=true -Dbench=true >/dev/null
fi
ninja -C "$build" examples/echo examples/echo_coro bench/loadgen >/dev/null
declare -A peer_bin=()
while read -r name path; do peer_bin[$name]=$path; done < <(bench/peers/build.sh "$build/peers")

# label|command|PANTS_BACKEND (checked; "" for peers)|hand-written loop to compare with
servers=(
    "pants echo, io_uring|$build/examples/echo|io_uring|uring_c"
    "pants echo, epoll|$build/examples/echo|epoll|epoll_c"
    "pants echo_coro, io_uring|$build/examples/echo_coro|io_uring|uring_c"
    "pants echo_coro, epoll|$build/examples/echo_coro|epoll|epoll_c"
)
for p in uring_c epoll_c asio_uring asio_epoll libuv; do
    [[ -n ${peer_bin[$p]:-} ]] || continue
    case $p in
        uring_c | asio_uring) ref=uring_c ;;
        *) ref=epoll_c ;;
    esac
    servers+=("peer $p|${peer_bin[$p]} $port||$ref")
done

# --- helpers -----------------------------------------------------------------
if listening; then
    echo "callgrind.sh: something already listens on port $port; stop it first" >&2
    exit 1
fi
pin_server=() pin_load=()
if (( $(nproc) >= 2 )); then pin_server=(taskset -c 0) pin_load=(taskset -c 1); fi

# Reads a callgrind dump; prints "instr sys clock" per message. Syscalls are
# the dump's sysCount total; clock_gettime's are its functions' own
# (exclusive) sysCount, i.e. cost lines not following a calls= line.
per_message() {
    awk -v m="$measured" '
        /^summary:/ { ir = $2; sys = $3 }
        /^fn=/ { fn = substr($0, 4); next }
        /^calls=/ { skip = 1; next }
        /^[0-9+*-]/ {
            if (skip) { skip = 0; next }
            if (fn ~ /clock_gettime/) clk += $3
        }
        END { printf "%.0f %.3f %.3f\n", ir / m, (sys - clk) / m, clk / m }' "$1"
}

# Runs one case; sets $result to "instr sys clock" or FAIL.
run_case() {
    local label=$1 cmd=$2 backend=$3 conns=$4 rc=0
    why=
    result=FAIL
    out=$tmp/cg.out
    rm -f "$out" "$out".*
    # shellcheck disable=SC2086  # cmd is a word list we built above
    if ! start_server 60 "$backend" "${pin_server[@]}" valgrind --tool=callgrind --collect-systime=nsec \
        --compress-strings=no --compress-pos=no --callgrind-out-file="$out" $cmd; then
        { echo "[$label, $conns conns] $why"; sed 's/^/    server: /' "$tmp/server.log"; } >>"$tmp/failures"
        stop_server || true
        return
    fi
    timeout 1800 "${pin_load[@]}" "$loadgen_bin" --port "$port" --connections "$conns" --size "$size" \
        --warmup-messages "$warm" --messages "$measured" \
        --checkpoint "callgrind_control -d $server_pid >/dev/null; :" >"$tmp/loadgen.out" 2>&1 || rc=$?
    stop_server || rc=1
    if (( rc != 0 )) || [[ ! -s $out.2 ]]; then
        {
            echo "[$label, $conns conns] loadgen exit status $rc${why:+; $why}"
            sed 's/^/    loadgen: /' "$tmp/loadgen.out"
            sed 's/^/    server: /' "$tmp/server.log"
        } >>"$tmp/failures"
        return
    fi
    result=$(per_message "$out.2")
    if [[ -n $keep ]]; then
        mkdir -p "$keep"
        cp "$out.2" "$keep/$(tr -c 'a-zA-Z0-9_\n' _ <<<"$label")-$conns.callgrind"
    fi
}

# --- run ---------------------------------------------------------------------
echo "callgrind.sh: $warm warm-up + $measured measured round trips of $size B per case, $(uname -r)," \
     "$(valgrind --version)"
: >"$tmp/failures"
declare -A res=()
for s in "${servers[@]}"; do
    IFS='|' read -r label cmd backend ref <<<"$s"
    [[ -z $only || $label =~ $only ]] || continue
    for c in $conn_counts; do
        run_case "$label" "$cmd" "$backend" "$c"
        res["$label|$c"]=$result
        echo "  $label, $c conns: $result" >&2
    done
done

# The hand-written loop's instructions, for the ratio column.
ref_instr() {
    local r=${res["peer $1|$2"]:-}
    [[ -n $r && $r != FAIL ]] && echo "${r%% *}"
}

echo
header=$(printf '%-28s' "server")
for c in $conn_counts; do header+=$(printf ' | %7s %6s %6s %6s' "instr" "sys" "clock" "x peer"); done
echo "$header"
sub=$(printf '%-28s' "")
for c in $conn_counts; do sub+=$(printf ' | %-28s' "$c conn$([[ $c != 1 ]] && echo s), per message"); done
echo "$sub"
for s in "${servers[@]}"; do
    IFS='|' read -r label cmd backend ref <<<"$s"
    [[ -z $only || $label =~ $only ]] || continue
    row=$(printf '%-28s' "$label")
    for c in $conn_counts; do
        r=${res["$label|$c"]}
        if [[ $r == FAIL ]]; then
            row+=$(printf ' | %7s %6s %6s %6s' FAIL - - -)
            continue
        fi
        read -r instr sys clk <<<"$r"
        base=$(ref_instr "$ref" "$c" || true)
        ratio=-
        [[ -n $base && $base -gt 0 ]] && ratio=$(awk -v a="$instr" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
        row+=$(printf ' | %7s %6s %6s %6s' "$instr" "$sys" "$clk" "$ratio")
    done
    echo "$row"
done

if [[ -s $tmp/failures ]]; then
    echo
    echo "Problems:"
    cat "$tmp/failures"
    exit 1
fi
