#!/usr/bin/env bash
# ./run.sh: installs what is missing, builds Pants (release) and runs the demo.
# Safe to run again: it reuses build-release/.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh

# The program this script runs, relative to build-release/.
DEMO=(examples/echo)  # the echo server on port 4000: try `telnet localhost 4000`

pants_require_packages "${PANTS_BUILD_PACKAGES[@]}"
pants_setup build-release -Dbuildtype=release -Dtests=false -Dexamples=true -Dbench=true
ninja -C build-release
echo "--- running ${DEMO[*]} (backend: ${PANTS_BACKEND:-default})"
exec "build-release/${DEMO[0]}" "${DEMO[@]:1}"
