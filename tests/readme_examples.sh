#!/usr/bin/env bash
# tests/readme_examples.sh: every ```cpp block of README.md is a program a
# user copies; this compiles each against the built library and runs the
# ones that end by themselves (bounded), so the README cannot drift from
# the API. A meson test entry (tests/meson.build) runs it:
#
#   readme_examples.sh README.md WORK_DIR LIBPANTS CXX [CXX_ARGS...]
#
# An HTML comment on the line right before a block's fence says how to
# treat it (the README renders it as nothing):
#   <!-- example: compile-only -->  a complete program that does not end by
#                                   itself (a server): compiled, not run
#   <!-- example: fragment -->      not a complete program: skipped
# Unmarked blocks are compiled and must exit 0 within 20 s.
set -euo pipefail

readme=$1 work=$2 lib=$3
shift 3
cxx=("$@")
: "${PANTS_SOURCE_ROOT:=$(dirname "$readme")}"
libdir=$(dirname "$lib")
flags=(-std=c++20 -Wall -Wextra -Werror -O0 -pthread
       -I"$PANTS_SOURCE_ROOT/include" -I"$PANTS_SOURCE_ROOT/runtime/include"
       -I"$PANTS_SOURCE_ROOT/net/include" -I"$PANTS_SOURCE_ROOT/dns/include"
       -I"$PANTS_SOURCE_ROOT/client/include")
libs=(-L"$libdir" -Wl,-rpath,"$libdir" -lpants)

rm -rf "$work"
mkdir -p "$work"

# Writes each block to $work/example-N.cpp and lists "N LINE MODE" for it
# in $work/blocks.
python3 - "$readme" "$work" >"$work/blocks" <<'PY'
import re, sys
readme, work = sys.argv[1], sys.argv[2]
lines = open(readme).read().split("\n")
n, i = 0, 0
while i < len(lines):
    if lines[i].strip() == "```cpp":
        mode = "run"
        m = re.match(r"\s*<!-- example: (compile-only|fragment) -->\s*$", lines[i - 1]) if i else None
        if m:
            mode = m.group(1)
        j = i + 1
        while lines[j].strip() != "```":
            j += 1
        n += 1
        with open(f"{work}/example-{n}.cpp", "w") as f:
            f.write("\n".join(lines[i + 1:j]) + "\n")
        print(n, i + 2, mode)
        i = j
    i += 1
PY
[[ -s "$work/blocks" ]] || { echo "no \`\`\`cpp block found in $readme" >&2; exit 1; }

failed=0 compiled=0 ran=0 skipped=0
while read -r n line mode; do
    src="$work/example-$n.cpp" exe="$work/example-$n"
    where="$(basename "$readme"):$line (block $n, $mode)"
    if [[ $mode == fragment ]]; then
        echo "skip    $where"
        skipped=$((skipped + 1))
        continue
    fi
    if ! "${cxx[@]}" "${flags[@]}" "$src" -o "$exe" "${libs[@]}" </dev/null; then
        echo "FAILED  $where: does not compile"
        failed=$((failed + 1))
        continue
    fi
    compiled=$((compiled + 1))
    if [[ $mode == compile-only ]]; then
        echo "ok      $where: compiles"
        continue
    fi
    rc=0
    timeout 20 "$exe" </dev/null >"$exe.out" 2>&1 || rc=$?
    if (( rc != 0 )); then
        echo "FAILED  $where: exit $rc (124: did not end within 20 s); output:"
        sed 's/^/    /' "$exe.out"
        failed=$((failed + 1))
    else
        echo "ok      $where: compiles and runs"
        ran=$((ran + 1))
    fi
done <"$work/blocks"

echo "README examples: $compiled compiled, $ran ran, $skipped fragments skipped, $failed failed"
(( failed == 0 ))
