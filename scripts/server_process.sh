# scripts/server_process.sh: sourced by scripts that start a server in the
# background (bench/echo.sh, bench/callgrind.sh, bench/idle_memory.sh,
# scripts/memcheck_echo.sh). Makes a temporary directory ($tmp) and, on exit
# or Ctrl-C, kills the server ($server_pid, set by the caller) and removes
# the directory. listening() is true when something accepts connections on
# 127.0.0.1:$port.
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
