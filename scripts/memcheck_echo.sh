#!/usr/bin/env bash
# scripts/memcheck_echo.sh: the echo examples under valgrind's memcheck, on
# both backends; fails on any memcheck error.
#
# Usage:
#   scripts/memcheck_echo.sh [-b BUILD_DIR] [-c CONNECTIONS] [-r ROUNDS]
#
#   -b BUILD_DIR    where the examples are built (default build-release, made
#                   as ./run.sh makes it if missing)
#   -c CONNECTIONS  concurrent echo clients (default 8)
#   -r ROUNDS       round trips per client (default 40)
#
# For each of examples/echo and examples/echo_coro, with PANTS_BACKEND=io_uring
# and then =epoll, it starts the server under
#   valgrind --tool=memcheck --error-exitcode=1 --leak-check=full
# drives a bounded workload through it with a small python client (every
# client checks its echo byte for byte; sizes 1 B to 64 KiB; plus a client
# that half-closes and one that resets), stops the server with SIGTERM and
# reads memcheck's report. A case passes when the server echoed everything,
# was running on the backend asked for, stopped on SIGTERM and memcheck
# counted 0 errors (leaks "definitely" or "possibly" lost count as errors).
# The examples shut down gracefully on SIGTERM (issue 12) and return from
# main; memory still reachable at exit is not an error.
#
# The examples listen on port 4000. Where user namespaces allow it the whole
# run happens in a private network namespace (unshare -rn), so nothing else
# on the machine can collide with it; otherwise port 4000 must be free.
# The memcheck logs of failed cases are printed; exit status 1 if any case
# failed. Expect a few minutes: everything runs some 50 times slower.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-release
connections=8
rounds=40
while getopts "b:c:r:h" opt; do
    case $opt in
        b) build=$OPTARG ;;
        c) connections=$OPTARG ;;
        r) rounds=$OPTARG ;;
        *) sed -n '2,12p' "$0" >&2; exit 2 ;;
    esac
done

port=4000
servers=(echo echo_coro)
backends=(io_uring epoll)

# --- a private loopback --------------------------------------------------------
if [[ -z ${PANTS_MEMCHECK_NETNS:-} ]] && command -v unshare >/dev/null && command -v ip >/dev/null &&
    unshare -rn true 2>/dev/null; then
    PANTS_MEMCHECK_NETNS=1 exec unshare -rn "$0" "$@"
fi
if [[ -n ${PANTS_MEMCHECK_NETNS:-} ]]; then
    ip link set lo up
    where="a private network namespace"
else
    where="the host's loopback"
fi

# --- build -------------------------------------------------------------------
source scripts/deps.sh
if ! command -v valgrind >/dev/null || ! command -v python3 >/dev/null; then
    pants_require_packages valgrind python3
fi
if [[ ! -f $build/build.ninja ]]; then
    pants_require_packages "${PANTS_BUILD_PACKAGES[@]}"
    pants_setup "$build" -Dbuildtype=release -Dtests=false -Dexamples=true -Dbench=true
fi
if ! ninja -C "$build" -t targets all 2>/dev/null | grep -q "^examples/echo:"; then
    meson configure "$build" -Dexamples=true >/dev/null
fi
ninja -C "$build" examples/echo examples/echo_coro >/dev/null

source scripts/server_process.sh  # $tmp, $server_pid, cleanup on exit


if listening; then
    echo "memcheck_echo.sh: something already listens on port $port; stop it first:" >&2
    ss -ltnp "sport = :$port" >&2 2>/dev/null || true
    exit 1
fi

# The client: $connections clients, $rounds round trips each, interleaved,
# every echo compared byte for byte; then a client that half-closes (the
# server must flush and close) and one that resets mid-echo. Bounded: every
# socket operation times out after 60 s.
cat >"$tmp/client.py" <<'EOF'
import socket, struct, sys

port = int(sys.argv[1])
sizes = [1, 7, 100, 1500, 4096, 16384, 65536]
connections, rounds = int(sys.argv[2]), int(sys.argv[3])

def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.settimeout(60)
    return s

def payload(client, n):
    return bytes((client * 31 + i) & 0xFF for i in range(n))

def read_exactly(s, n):
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            raise RuntimeError(f"server closed after {len(got)} of {n} bytes")
        got += chunk
    return bytes(got)

clients = [connect() for _ in range(connections)]
trips = 0
for r in range(rounds):
    size = sizes[r % len(sizes)]
    for i, s in enumerate(clients):
        s.sendall(payload(i + r, size))
    for i, s in enumerate(clients):
        if read_exactly(s, size) != payload(i + r, size):
            raise RuntimeError(f"client {i} round {r}: echo differs")
        trips += 1
for s in clients:
    s.close()

# Half-close: what was sent still comes back, then the end.
s = connect()
s.sendall(payload(99, 50000))
s.shutdown(socket.SHUT_WR)
if read_exactly(s, 50000) != payload(99, 50000) or s.recv(1) != b"":
    raise RuntimeError("half-closed client: wrong echo or no end of stream")
s.close()

# Reset while the server still has echo data for us.
s = connect()
s.sendall(payload(7, 200000))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()

# The server goes on after the reset.
s = connect()
s.sendall(b"still there")
if read_exactly(s, 11) != b"still there":
    raise RuntimeError("echo after the reset differs")
s.close()
print(f"{trips + 3} round trips")
EOF

# Runs server $1 with backend $2; prints one result line; 0 if clean.
run_case() {
    local server=$1 backend=$2 log=$tmp/$1-$2.vg.log out=$tmp/$1-$2.out rc
    # The last server's listener may outlive it briefly: io_uring tears a
    # ring (and the multishot accept holding the socket) down asynchronously.
    local deadline=$((SECONDS + 10))
    while listening && (( SECONDS < deadline )); do sleep 0.1; done
    if listening; then
        why="port $port is still taken by an earlier server"
        return 1
    fi
    PANTS_BACKEND=$backend valgrind --tool=memcheck --error-exitcode=1 --leak-check=full \
        --log-file="$log" "$build/examples/$server" >"$out" 2>&1 &
    server_pid=$!
    deadline=$((SECONDS + 120))
    until listening; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" && rc=0 || rc=$?
            server_pid=
            why="exited with status $rc before listening: $(tr '\n' ' ' <"$out")"
            return 1
        fi
        if (( SECONDS >= deadline )); then
            why="did not listen on port $port within 120 s"
            return 1
        fi
        sleep 0.1
    done
    # The backend asked for must be the one running: each shows up as its own
    # anonymous inode among the process's fds.
    local want=io_uring
    [[ $backend == epoll ]] && want=eventpoll
    if ! ls -l "/proc/$server_pid/fd" 2>/dev/null | grep -q "anon_inode:\[$want\]"; then
        why="holds no [$want] fd: PANTS_BACKEND=$backend was not honoured"
        return 1
    fi
    if ! timeout 600 python3 "$tmp/client.py" "$port" "$connections" "$rounds" >"$tmp/client.out" 2>&1; then
        why="client failed: $(tail -n 3 "$tmp/client.out" | tr '\n' ' ')"
        return 1
    fi
    trips=$(cat "$tmp/client.out")

    local pid=$server_pid
    kill -TERM "$pid"
    deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        # Valgrind (3.19 at least) keeps signals blocked while the client
        # waits in io_uring_enter and takes a pending one only after the
        # client has run for a while: on an idle io_uring server the SIGTERM
        # stays pending. Traffic would let it through, but the server would
        # then die in the middle of a connection (its coroutine frame shows
        # as "possibly lost"). Instead, ask memcheck through vgdb (which
        # interrupts the system call with ptrace) for the same leak check
        # and error count it would give at exit, then kill the server.
        note="; SIGTERM stayed pending ($(grep ShdPnd "/proc/$pid/status" | tr -s '\t ' ' ')), report taken through vgdb"
        local vgdb_out=$tmp/$server-$backend.vgdb
        if ! timeout 120 vgdb --pid="$pid" leak_check full >"$vgdb_out" 2>&1 ||
            ! timeout 60 vgdb --pid="$pid" v.info n_errs_found >>"$vgdb_out" 2>&1; then
            cat "$vgdb_out" >>"$log"
            why="still running after SIGTERM, and vgdb could not reach it"
            return 1
        fi
        cat "$vgdb_out" >>"$log"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        server_pid=
        local errors lost
        errors=$(grep -Eo '^n_errs_found [0-9]+' "$vgdb_out" | cut -d' ' -f2 || true)
        lost=$(grep -E '(definitely|indirectly|possibly) lost:' "$vgdb_out" | grep -vc ' lost: 0 ' || true)
        if [[ $errors != 0 || $lost != 0 ]]; then
            why="memcheck (via vgdb): ${errors:-?} errors, $lost leak kinds not empty"
            return 1
        fi
        why=
        return 0
    fi
    wait "$pid" && rc=0 || rc=$?
    server_pid=
    # 0: the examples shut down gracefully on SIGTERM and return from main.
    if (( rc != 0 )); then
        why="exit status $rc after SIGTERM (0 expected: graceful shutdown)"
        return 1
    fi
    local summary
    summary=$(grep -o 'ERROR SUMMARY: [0-9,]* errors' "$log" || true)
    if [[ $summary != "ERROR SUMMARY: 0 errors" ]]; then
        why="memcheck: ${summary:-no ERROR SUMMARY in its log}"
        return 1
    fi
    why=
}

echo "memcheck_echo.sh: $build/examples/{echo,echo_coro} under $(valgrind --version), $(uname -r), in $where;" \
     "$connections clients x $rounds round trips each"
failed=0
results=()
for server in "${servers[@]}"; do
    for backend in "${backends[@]}"; do
        why= trips= note=
        if run_case "$server" "$backend"; then
            results+=("$(printf '%-10s %-9s clean (%s, 0 memcheck errors%s)' "$server" "$backend" "$trips" "$note")")
        else
            failed=1
            results+=("$(printf '%-10s %-9s FAIL: %s%s' "$server" "$backend" "$why" "$note")")
            if [[ -n $server_pid ]]; then
                kill -KILL "$server_pid" 2>/dev/null || true
                wait "$server_pid" 2>/dev/null || true
                server_pid=
            fi
            echo "--- memcheck log of $server, $backend:" >&2
            sed 's/^/    /' "$tmp/$server-$backend.vg.log" >&2 || true
        fi
        echo "${results[-1]}"
    done
done
exit "$failed"
