#!/usr/bin/env bash
# scripts/mutate.sh: plants one-line bugs, one at a time, and checks that
# the test suites catch each of them. A mutation that survives (every suite
# still passes) marks a behaviour no test pins down.
#
#   scripts/mutate.sh [LIST...]     default: every scripts/mutations/*.txt
#   MUTATE_ONLY=3 scripts/mutate.sh scripts/mutations/runtime.txt
#                                   only the third mutation of the list(s)
#
# A list holds one mutation per line:
#
#   FILE | PATTERN | REPLACEMENT | SUITES
#
#   FILE         path from the repository root (runtime/engine.cpp)
#   PATTERN      exact text (not a regex) found on exactly one line of FILE;
#                surrounding spaces of the field are ignored
#   REPLACEMENT  what that occurrence becomes: the planted bug
#   SUITES       suite names of tests/meson.build, separated by spaces
#                (engine task); each runs on both backends (engine-io_uring,
#                engine-epoll)
#
# Fields are separated by " | " (space, bar, space), so a pattern cannot
# contain " | " ("||" is fine): pick a shorter pattern. Blank lines and lines
# starting with # are ignored; the comment line right above a mutation names
# it in the report. Prefer .cpp files and detail headers few files include:
# each mutation rebuilds what depends on its file.
#
# How it runs: build-mutate/ (its own build directory, so build/ is left
# alone) is configured once and built incrementally. First the suites run
# unmutated (all must pass). Then for each mutation: apply it, rebuild the
# test programs of its suites, run them with meson test (a hanging suite
# fails after MUTATE_TIMEOUT seconds, default 60: a hang counts as caught),
# and restore the file, always, even on Ctrl-C or a failed build. A
# mutation that does not compile is reported as BROKEN: fix the list.
# Exit status 0 only if every mutation was caught.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

BUILD=build-mutate
TIMEOUT=${MUTATE_TIMEOUT:-60}
lists=("$@")
(( ${#lists[@]} )) || lists=(scripts/mutations/*.txt)

# Parses the lists into records "list:line<TAB>name<TAB>file<TAB>pattern<TAB>replacement<TAB>suites",
# checking each pattern occurs exactly once.
parse_lists() {
    python3 - "$@" <<'PY'
import sys
bad = False
for path in sys.argv[1:]:
    name = ""
    for no, raw in enumerate(open(path), 1):
        line = raw.rstrip("\n")
        if not line.strip():
            name = ""
            continue
        if line.lstrip().startswith("#"):
            name = line.lstrip("# ").strip()
            continue
        fields = [f.strip() for f in line.split(" | ")]
        if len(fields) != 4 or not all(fields):
            print(f"{path}:{no}: expected FILE | PATTERN | REPLACEMENT | SUITES", file=sys.stderr)
            bad = True
            continue
        file, pattern, replacement, suites = fields
        try:
            text = open(file).read()
        except OSError as e:
            print(f"{path}:{no}: {e}", file=sys.stderr)
            bad = True
            continue
        if text.count(pattern) != 1:
            print(f"{path}:{no}: pattern found {text.count(pattern)} times in {file}, not once: {pattern}",
                  file=sys.stderr)
            bad = True
            continue
        print("\t".join([f"{path}:{no}", name or pattern, file, pattern, replacement, suites]))
        name = ""
sys.exit(1 if bad else 0)
PY
}

mapfile -t records < <(parse_lists "${lists[@]}" || echo "PARSE-ERROR")
if [[ " ${records[*]} " == *PARSE-ERROR* ]]; then
    echo "mutate: fix the lists above" >&2
    exit 2
fi
if [[ -n ${MUTATE_ONLY:-} ]]; then
    records=("${records[MUTATE_ONLY - 1]}")
fi

# The file being mutated and its original text, restored on any exit.
MUTATED="" BACKUP=""
restore() {
    if [[ -n $MUTATED ]]; then
        cp "$BACKUP" "$MUTATED"  # a fresh mtime: ninja rebuilds the original
        MUTATED=""
    fi
}
trap restore EXIT
trap 'restore; echo "mutate: interrupted" >&2; exit 130' INT TERM

# Test programs and meson test entries for a list of suite names.
targets_of() { local s; for s in "$@"; do echo "tests/test_$s"; done; echo tests/backend_probe; }
entries_of() { local s; for s in "$@"; do echo "$s-io_uring" "$s-epoll"; done; }

build() { ninja -C "$BUILD" $(targets_of "$@") >"$BUILD/mutate-build.log" 2>&1; }
run_suites() {
    # --timeout-multiplier: tests/meson.build gives each suite 300 s.
    meson test -C "$BUILD" --no-rebuild --num-processes 2 \
        --timeout-multiplier "$(python3 -c "print($TIMEOUT / 300)")" \
        $(entries_of "$@") >"$BUILD/mutate-test.log" 2>&1
}

pants_setup "$BUILD" -Dbuildtype=debugoptimized -Dtests=true -Dexamples=false -Dbench=false >/dev/null
BACKUP=$BUILD/mutate-original

start=$SECONDS
all_suites=$(for r in "${records[@]}"; do cut -f6 <<<"$r"; done | tr ' ' '\n' | sort -u | tr '\n' ' ')
echo "=== baseline: building and running $all_suites unmutated"
# shellcheck disable=SC2086  # suite names split on spaces
if ! build $all_suites; then
    cat "$BUILD/mutate-build.log" >&2
    echo "mutate: the unmutated tree does not build" >&2
    exit 2
fi
# shellcheck disable=SC2086
if ! run_suites $all_suites; then
    cat "$BUILD/mutate-test.log" >&2
    echo "mutate: the suites fail without any mutation: fix that first" >&2
    exit 2
fi
echo "    ok in $((SECONDS - start))s"

caught=0 survived=0 broken=0
report=()
for r in "${records[@]}"; do
    IFS=$'\t' read -r where name file pattern replacement suites <<<"$r"
    t0=$SECONDS
    cp "$file" "$BACKUP"
    MUTATED=$file
    python3 - "$file" "$pattern" "$replacement" <<'PY'
import sys
path, pattern, replacement = sys.argv[1:]
text = open(path).read()
open(path, "w").write(text.replace(pattern, replacement, 1))
PY
    # shellcheck disable=SC2086
    if ! build $suites; then
        status=BROKEN
        broken=$((broken + 1))
        grep -m 3 'error' "$BUILD/mutate-build.log" | sed 's/^/    /' || true
    elif run_suites $suites; then
        status=SURVIVED
        survived=$((survived + 1))
    else
        status=caught
        caught=$((caught + 1))
        # Which entries and test cases failed, for the report.
        failed=$(python3 - "$BUILD/meson-logs/testlog.json" <<'PY'
import json, re, sys
seen = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["result"] in ("OK", "SKIP"):
        continue
    cases = sorted(set(re.findall(r"TEST CASE:  (.*)", e.get("stdout") or "")))
    seen.append(e["name"].split(" / ")[-1] + ":" + e["result"] + (" [" + " | ".join(cases) + "]" if cases else ""))
print(" ".join(seen))
PY
)
        status="caught by ${failed:-?}"
    fi
    restore
    line=$(printf '%-9s %4ds  %s  (%s)' "${status%% *}" $((SECONDS - t0)) "$name" "$where")
    [[ $status == caught* ]] && line+=" ${status#caught }"
    echo "$line"
    report+=("$line")
done

# Rebuild the original, so the directory is ready for the next run.
# shellcheck disable=SC2086
build $all_suites || true

echo "=== mutations: ${#records[@]} planted, $caught caught, $survived survived, $broken did not build ($((SECONDS - start))s)"
for line in "${report[@]}"; do
    [[ $line == SURVIVED* || $line == BROKEN* ]] && echo "  $line"
done
(( survived == 0 && broken == 0 ))
