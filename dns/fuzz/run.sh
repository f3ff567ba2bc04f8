#!/bin/sh
# Builds (if needed) and runs the DNS decode fuzzer for a bounded time.
#   dns/fuzz/run.sh SECONDS
# Build directory: $PANTS_FUZZ_BUILD or build-fuzz at the project root.
# New inputs go to a scratch directory, the checked-in corpus stays as is;
# crashes are written to the current directory (crash-*), and the exit
# status is non-zero when the fuzzer finds one.
set -eu
seconds=${1:?usage: run.sh SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${PANTS_FUZZ_BUILD:-$root/build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
    CC=clang CXX=clang++ meson setup "$build" "$root" -Dfuzz=true -Dtests=false -Dexamples=false -Dbench=false
fi
ninja -C "$build" dns/fuzz/fuzz_decode

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$build/dns/fuzz/fuzz_decode" "$scratch" "$here/corpus" \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
