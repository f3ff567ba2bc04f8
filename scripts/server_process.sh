# scripts/server_process.sh: sourced by scripts that start a server in the
# background (bench/echo.sh, bench/callgrind.sh, bench/idle_memory.sh,
# bench/tls.sh, bench/echo_cluster.sh, scripts/memcheck_echo.sh). Makes a
# temporary directory ($tmp) and, on exit or Ctrl-C, kills the server
# ($server_pid) and removes the directory. listening() is true when
# something accepts connections on 127.0.0.1:$port; start_server and
# stop_server run one server at a time on that port.
tmp=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

# start_server SECONDS BACKEND COMMAND...: starts COMMAND in the background
# with PANTS_BACKEND=BACKEND (empty for a peer, which is not checked), its
# output in $tmp/server.log, and waits up to SECONDS for it to listen. Then
# makes sure the backend asked for is the one running (no quiet fallback):
# each shows up as its own anonymous inode among the server's fds. On
# failure sets $why and returns 1. Call it in the main shell, not in
# $(...), so that $server_pid stays visible to cleanup and the server stays
# our child for `wait`.
start_server() {
    local seconds=$1 backend=$2 rc
    shift 2
    PANTS_BACKEND=${backend:-io_uring} "$@" >"$tmp/server.log" 2>&1 &
    server_pid=$!
    local deadline=$((SECONDS + seconds))
    until listening; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" && rc=0 || rc=$?
            server_pid=
            why="server exited with status $rc before listening"
            return 1
        fi
        if (( SECONDS >= deadline )); then
            why="server did not listen on port $port within $seconds s"
            return 1
        fi
        sleep 0.02
    done
    [[ -n $backend ]] || return 0
    local want=io_uring
    [[ $backend == epoll ]] && want=eventpoll
    if ! ls -l "/proc/$server_pid/fd" 2>/dev/null | grep -q "anon_inode:\[$want\]"; then
        why="server does not hold an [$want] fd: PANTS_BACKEND=$backend was not honoured"
        return 1
    fi
}

# stop_server: SIGTERM, then SIGKILL after 10 s (valgrind takes a while to
# write its output), and waits until the port is free for the next server.
# Sets $why and returns 1 if the server had died before it was asked to.
stop_server() {
    [[ -n $server_pid ]] || return 0
    local pid=$server_pid rc
    server_pid=
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" && rc=0 || rc=$?
        why="server died during the case (exit status $rc)"
        return 1
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.02; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while listening && (( SECONDS < deadline )); do sleep 0.02; done
}
