#!/usr/bin/env bash
# bench/send_zc.sh: does zero-copy send or a registered ring fd pay off for
# large stream writes? (issue 14, "Large writes"; bench/send_zc.c does the
# work, see its header for the method).
#
# Usage:
#   bench/send_zc.sh [RUNS [MIB]]
#
#   RUNS  interleaved runs per case (default 5): every run goes through all
#         sizes and all modes, the mode order rotated from run to run
#   MIB   MiB sent per case and run (default 256)
#
# For each write size (4 KiB, 16 KiB, 64 KiB, 256 KiB, 1 MiB) and mode (send,
# zc = IORING_OP_SEND_ZC, zcmsg = IORING_OP_SENDMSG_ZC, send-reg and zc-reg =
# send and zc with the ring fd registered) it prints the sender's CPU time per GiB sent and the
# throughput, medians with the range over the runs, the zc/send and reg/plain
# CPU ratios, and how many zero-copy notifications said the kernel copied
# (IORING_NOTIF_USAGE_ZC_COPIED). Then the cost of one io_uring_enter on a
# NOP ring, plain and registered. Every byte is checked by the reader. The
# sender runs on CPU 0, the reader on CPU 1; loopback TCP only. CPU per GiB
# is the steadier figure on a busy machine.
#
# Needs liburing-dev (prints why and exits 0 without it). The binary goes to
# ${PANTS_BUILD:-build-release}/bench-c/send_zc, rebuilt when stale.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
mib=${2:-256}
out=${PANTS_BUILD:-build-release}/bench-c
cc=${CC:-cc}

if ! echo '#include <liburing.h>' | "$cc" -x c -fsyntax-only - 2>/dev/null; then
    echo "send_zc.sh: skipped: install liburing-dev" >&2
    exit 0
fi
mkdir -p "$out"
bin=$out/send_zc
if [[ ! -x $bin || bench/send_zc.c -nt $bin ]]; then
    "$cc" -O3 -DNDEBUG -g -Wall -Wextra -Werror -o "$bin" bench/send_zc.c -luring
fi

sizes="4096 16384 65536 262144 1048576"
modes=(send zc zcmsg send-reg zc-reg)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
total=$((mib << 20))
for ((r = 0; r < runs; r++)); do
    for size in $sizes; do
        for ((i = 0; i < ${#modes[@]}; i++)); do
            mode=${modes[$(((i + r) % ${#modes[@]}))]}
            timeout 150 "$bin" stream "$mode" "$size" "$total" >>"$results"
        done
    done
done
timeout 150 "$bin" nop 400000 >>"$results"
timeout 150 "$bin" nop 400000 >>"$results"
timeout 150 "$bin" nop 400000 >>"$results"

python3 - "$results" "$runs" "$mib" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
runs, mib = sys.argv[2], sys.argv[3]
MODES = ["send", "zc", "zcmsg", "send-reg", "zc-reg"]
cases = {}
nops = {0: [], 1: []}
instrs = {0: [], 1: []}
for r in rows:
    if r[0] == "nop":
        nops[int(r[1])].append(float(r[2]))
        if r[3] != "n/a":
            instrs[int(r[1])].append(float(r[3]))
        continue
    mode, size, nbytes, wall, cpu, enters, notifs, copied = r[0], int(r[1]), *map(int, r[2:])
    gib = nbytes / (1 << 30)
    c = cases.setdefault((size, mode), {"cpu": [], "rate": [], "notifs": 0, "copied": 0, "enters": []})
    c["cpu"].append(cpu / 1e6 / gib)          # ms of sender CPU per GiB
    c["rate"].append(gib / (wall / 1e9))      # GiB/s
    c["enters"].append(enters / gib)
    c["notifs"] += notifs
    c["copied"] += copied

def med(v):
    return statistics.median(v)

def rng(v, fmt):
    return f"{fmt.format(med(v))} ({fmt.format(min(v))}-{fmt.format(max(v))})"

def kib(size):
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"

print(f"sender CPU ms per GiB and GiB/s: median (min-max) of {runs} interleaved runs, {mib} MiB each")
print()
print("| size | mode | CPU ms/GiB | GiB/s | enters/GiB | copied notifs |")
print("|---|---|---|---|---|---|")
for (size, mode), c in sorted(cases.items(), key=lambda kv: (kv[0][0], MODES.index(kv[0][1]))):
    copied = f"{c['copied']}/{c['notifs']}" if c["notifs"] else "-"
    print(f"| {kib(size)} | {mode} | {rng(c['cpu'], '{:.0f}')} | {rng(c['rate'], '{:.2f}')} | {med(c['enters']):.0f} | {copied} |")
print()
print("ratios of median sender CPU per GiB (below 1: the first is cheaper)")
print()
print("| size | zc / send | zcmsg / send | send-reg / send | zc-reg / zc |")
print("|---|---|---|---|---|")
for size in sorted({s for s, _ in cases}):
    m = {mode: med(cases[(size, mode)]["cpu"]) for mode in MODES if (size, mode) in cases}
    print(f"| {kib(size)} | {m['zc'] / m['send']:.2f} | {m['zcmsg'] / m['send']:.2f} | {m['send-reg'] / m['send']:.2f} | {m['zc-reg'] / m['zc']:.2f} |")
print()
if nops[0] and nops[1]:
    print(f"io_uring_enter with one NOP, ns per enter, median (min-max) of {len(nops[0])} runs of 400,000:")
    print(f"  plain ring fd {rng(nops[0], '{:.0f}')}, registered {rng(nops[1], '{:.0f}')}, "
          f"saved {med(nops[0]) - med(nops[1]):.0f} ns per enter")
    if instrs[0] and instrs[1]:
        print(f"  instructions per enter (user + kernel): plain {med(instrs[0]):.0f}, "
              f"registered {med(instrs[1]):.0f}")
    else:
        print("  instructions per enter: n/a (no hardware instruction counter here)")
EOF
