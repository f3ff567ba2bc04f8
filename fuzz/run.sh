#!/bin/sh
# Builds the libFuzzer targets, replays every checked-in corpus, then fuzzes.
#   fuzz/run.sh SECONDS [TARGET...]     each target for SECONDS
#   fuzz/run.sh --total SECONDS [TARGET...]
#                                       SECONDS shared by the targets
# TARGET defaults to every target (fuzz/meson.build). The corpus of a
# target is fuzz/corpus/TARGET (dns/fuzz/corpus for fuzz_decode and
# fuzz_reply_scan); new inputs go to a scratch directory
# ($PANTS_FUZZ_SCRATCH/TARGET to keep them), the checked-in corpus stays
# as is. Crashes are written to $PANTS_FUZZ_ARTIFACTS (default
# BUILD/crashes) as TARGET-crash-*, and the exit status is non-zero when
# any replay or run fails.
# Build directory: $PANTS_FUZZ_BUILD or build-fuzz at the project root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${PANTS_FUZZ_BUILD:-$root/build-fuzz}
all_targets="fuzz_decode fuzz_reply_scan fuzz_resolver_reply fuzz_hosts_file fuzz_resolv_conf fuzz_address fuzz_framer fuzz_tls_server"

total=""
if [ "${1:-}" = "--total" ]; then
    total=${2:?usage: run.sh --total SECONDS [TARGET...]}
    shift 2
else
    seconds=${1:?usage: run.sh SECONDS [TARGET...] | run.sh --total SECONDS [TARGET...]}
    shift
fi
targets=${*:-$all_targets}
count=$(echo $targets | wc -w)
if [ -n "$total" ]; then
    seconds=$((total / count))
    [ "$seconds" -ge 1 ] || seconds=1
fi

corpus_of() {
    case $1 in
        fuzz_decode | fuzz_reply_scan) echo "$root/dns/fuzz/corpus" ;;
        *) echo "$here/corpus/$1" ;;
    esac
}

if [ ! -f "$build/build.ninja" ]; then
    CC=clang CXX=clang++ meson setup "$build" "$root" -Dfuzz=true -Dtests=false -Dexamples=false -Dbench=false
fi
ninja -C "$build" $(for t in $targets; do printf 'fuzz/%s ' "$t"; done)

artifacts=${PANTS_FUZZ_ARTIFACTS:-$build/crashes}
mkdir -p "$artifacts"
scratch_root=$(mktemp -d)
trap 'rm -rf "$scratch_root"' EXIT

status=0
summary=""
for target in $targets; do
    exe="$build/fuzz/$target"
    corpus=$(corpus_of "$target")
    common="-max_len=4096 -timeout=10 -rss_limit_mb=2048 -artifact_prefix=$artifacts/$target-"
    # Replay: every checked-in input once (regressions of fixed findings).
    if ! "$exe" $common -runs=0 "$corpus" >"$scratch_root/$target.replay.log" 2>&1; then
        cat "$scratch_root/$target.replay.log" >&2
        echo "=== $target: the corpus replay FAILED" >&2
        status=1
        summary="$summary$target replay FAILED
"
        continue
    fi
    if [ -n "${PANTS_FUZZ_SCRATCH:-}" ]; then
        scratch=$PANTS_FUZZ_SCRATCH/$target
        mkdir -p "$scratch"
    else
        scratch=$scratch_root/$target
        mkdir "$scratch"
    fi
    echo "=== $target: $(ls "$corpus" | wc -l) corpus inputs replayed; fuzzing for ${seconds}s"
    if "$exe" $common -max_total_time="$seconds" -print_final_stats=1 "$scratch" "$corpus" \
        >"$scratch_root/$target.log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
        tail -n 60 "$scratch_root/$target.log" >&2
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch_root/$target.log")
    summary="$summary$(printf '%-20s %s, %s executions in %ss' "$target" "$result" "${execs:-?}" "$seconds")
"
done
printf '=== fuzz summary\n%s' "$summary"
exit $status
