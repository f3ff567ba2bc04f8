#!/usr/bin/env bash
# ./test.sh: installs what is missing, then proves Pants works:
#   1. build/       (debugoptimized) every suite, once per backend
#   2. build-asan/  the same suites under AddressSanitizer + UBSan
#   3. install to a temporary prefix and build an example outside the tree
#      with pkg-config, as a user of the installed package would
#   4. a bounded fuzz run of every fuzz target, after replaying their corpora
# Safe to run again: it reuses the build directories.
# After each meson test run, and in the last line, it says how many test
# entries ran and how many were skipped, per backend, and how many test
# cases skipped themselves (scripts/test_summary.py). Under CI=true, or
# PANTS_REQUIRE_ALL=1 anywhere, a skip fails the run: green means tested.
# `./test.sh asan install` runs only the named steps (tests asan install fuzz).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh

JOBS=2  # meson test processes; the CI machine has 2 cores

pants_require_packages "${PANTS_BUILD_PACKAGES[@]}" "${PANTS_TEST_PACKAGES[@]}"

TIMINGS=()      # "step  seconds" of each finished step
SUMMARIES=()    # what each meson test run ran and skipped
STEP="" STEP_START=0
INSTALL_TMP=""
on_exit() {
    local rc=$?
    rm -rf "$INSTALL_TMP"
    local tested=""
    (( ${#SUMMARIES[@]} )) && tested=" -- $(IFS='|'; echo "${SUMMARIES[*]}" | sed 's/|/ | /g')"
    if (( rc == 0 )); then
        printf '%s\n' "${TIMINGS[@]}" "=== all passed in ${SECONDS}s$tested"
    else
        printf '%s\n' "${TIMINGS[@]}" "=== FAILED in step '$STEP' after $((SECONDS - STEP_START))s (exit $rc)$tested"
    fi
    exit "$rc"
}
trap on_exit EXIT

# Runs "$@" as the step named $1 and records how long it took.
timed() {
    STEP=$1 STEP_START=$SECONDS
    shift
    echo "=== $STEP"
    "$@"
    TIMINGS+=("$(printf 'step %-8s %4ds' "$STEP" $((SECONDS - STEP_START)))")
}

build_and_test() {
    local dir=$1
    shift
    pants_setup "$dir" "$@"
    ninja -C "$dir"
    local rc=0 summary
    meson test -C "$dir" --num-processes "$JOBS" --print-errorlogs || rc=$?
    # Green must mean tested: what ran and what was skipped, per backend.
    # Under CI=true (or PANTS_REQUIRE_ALL=1) any skip fails the step.
    summary=$(python3 scripts/test_summary.py "$dir") || (( rc )) || rc=1
    echo "$summary"
    SUMMARIES+=("$(head -n 1 <<<"$summary")")
    return "$rc"
}

PLAIN_OPTIONS=(-Dbuildtype=debugoptimized -Dtests=true -Dexamples=true -Dbench=true)

tests_plain() {
    build_and_test build "${PLAIN_OPTIONS[@]}"
}

tests_asan() {
    # b_lundef=false: the sanitizer runtimes resolve some symbols at load time.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        build_and_test build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
            -Dtests=true -Dexamples=false -Dbench=false
}

# Installs build/ into a temporary directory and compiles examples/timers.cpp
# outside the tree against it, using only what pkg-config says.
install_check() {
    local tmp
    tmp=$(mktemp -d)
    INSTALL_TMP=$tmp
    pants_setup build "${PLAIN_OPTIONS[@]}"
    meson install -C build --destdir "$tmp/root" --quiet

    # The .pc file names the configured prefix; point it at the staged copy.
    local prefix pcdir
    prefix=$(meson introspect build --buildoptions | python3 -c \
        'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
    pcdir=$(dirname "$(find "$tmp/root" -name pants.pc -print -quit)")
    [[ -f "$pcdir/pants.pc" ]] || { echo "pants.pc was not installed" >&2; return 1; }
    export PKG_CONFIG_PATH=$pcdir
    local pc=(pkg-config --define-variable=prefix="$tmp/root$prefix")

    mkdir "$tmp/user"
    cp examples/timers.cpp "$tmp/user/"
    (
        cd "$tmp/user"
        echo "pkg-config --cflags --libs pants: $("${pc[@]}" --cflags --libs pants)"
        # shellcheck disable=SC2046  # word splitting of the flags is intended
        g++ -std=c++20 -Wall -Wextra -Werror timers.cpp -o timers $("${pc[@]}" --cflags --libs pants)
        LD_LIBRARY_PATH=$("${pc[@]}" --variable=libdir pants) timeout 20 ./timers
    )

    # Installed programs run from their prefix without LD_LIBRARY_PATH:
    # pants-dig's RUNPATH is relative to it (issue 10).
    local dig
    dig=$(find "$tmp/root" -name pants-dig -type f -print -quit)
    [[ -x "$dig" ]] || { echo "pants-dig was not installed" >&2; return 1; }
    readelf -d "$dig" | grep -q 'RUNPATH.*\$ORIGIN/\.\./' ||
        { echo "pants-dig has no \$ORIGIN-relative RUNPATH:" >&2; readelf -d "$dig" | grep -i path >&2; return 1; }
    env -u LD_LIBRARY_PATH timeout 20 "$dig" --help >/dev/null 2>&1 ||
        { echo "the installed pants-dig does not run" >&2; return 1; }
    ldd "$dig" | grep -q "$tmp/root.*libpants" ||
        { echo "the installed pants-dig does not load the installed libpants:" >&2; ldd "$dig" >&2; return 1; }
}

# Bounded fuzzing: fuzz/run.sh builds every libFuzzer target (build-fuzz/,
# clang), replays each checked-in corpus, then fuzzes the targets one after
# the other, sharing FUZZ_SECONDS (about 12 s each for six targets; with the
# replays the step stays near 90 s once the build is cached).
FUZZ_SECONDS=${PANTS_FUZZ_SECONDS:-72}
run_fuzz() {
    bash fuzz/run.sh --total "$FUZZ_SECONDS"
}

steps=("$@")
(( ${#steps[@]} )) || steps=(tests asan install fuzz)
for step in "${steps[@]}"; do
    case $step in
        tests) timed tests tests_plain ;;
        asan) timed asan tests_asan ;;
        install) timed install install_check ;;
        fuzz) timed fuzz run_fuzz ;;
        *) echo "unknown step '$step' (tests asan install fuzz)" >&2; exit 2 ;;
    esac
done
