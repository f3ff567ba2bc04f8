#!/usr/bin/env bash
# tests/header_check.sh: every public header compiles on its own (STYLE.md
# 24, Seastar's checkheaders), so a user may include any one of them first.
# Headers are found at run time under */include/pants/, so a new header is
# checked without being listed anywhere. A meson test entry runs it:
#
#   header_check.sh SOURCE_ROOT BUILD_ROOT CXX [CXX_ARGS...]
set -euo pipefail

root=$1 build=$2
shift 2
cxx=("$@")
includes=(-I"$build")
for dir in "$root"/include "$root"/*/include; do
    includes+=(-I"$dir")
done

failed=0 checked=0
while IFS= read -r header; do
    checked=$((checked + 1))
    # A translation unit that includes only this header.
    if ! echo "#include \"$header\"" |
        "${cxx[@]}" -std=c++20 -Wall -Wextra -Werror -fsyntax-only "${includes[@]}" -x c++ -; then
        echo "FAILED  ${header#"$root"/}: does not compile on its own"
        failed=$((failed + 1))
    fi
done < <(find "$root" -path "$root/build*" -prune -o -path '*/include/pants/*' -name '*.hpp' -print | sort)

echo "headers: $checked checked, $failed failed"
(( checked > 0 && failed == 0 ))
