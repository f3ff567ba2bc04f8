#!/usr/bin/env python3
"""Says what a `meson test` run really tested, from meson-logs/testlog.json.

    scripts/test_summary.py BUILD_DIR

Prints one line: per backend (the `-io_uring` / `-epoll` suffix of each
entry's name; anything else is "other"), how many entries ran and how many
meson skipped (exit 77: io_uring cannot be set up here), plus the test cases
skipped one by one inside suites (tests/skip.hpp: each suite prints
`pants-skipped-cases: N`). A green run with skips is not a fully tested run:
under CI=true, or PANTS_REQUIRE_ALL=1 anywhere, any skip makes this exit 1
with the list of what did not run.
"""
import json
import os
import re
import sys

SKIPPED_CASE = re.compile(r"^  skipped: (.*)$", re.M)


def require_all():
    return os.environ.get("CI") == "true" or os.environ.get("PANTS_REQUIRE_ALL") == "1"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    path = os.path.join(build, "meson-logs", "testlog.json")
    try:
        with open(path) as f:
            entries = [json.loads(line) for line in f if line.strip()]
    except OSError as e:
        sys.exit(f"test summary: cannot read {path}: {e}")

    counts = {}  # backend -> [ran, skipped]
    skipped_entries, skipped_cases = [], []
    for e in entries:
        name = e["name"].split(" / ")[-1]  # "pants:io_uring / engine-io_uring"
        backend = name.rsplit("-", 1)[-1] if name.endswith(("-io_uring", "-epoll")) else "other"
        c = counts.setdefault(backend, [0, 0])
        if e["result"] == "SKIP":
            c[1] += 1
            reason = (e.get("stderr") or e.get("stdout") or "").strip().splitlines()
            skipped_entries.append(f"{name}: {reason[-1] if reason else 'skipped'}")
            continue
        c[0] += 1
        out = e.get("stdout") or ""
        skipped_cases += [f"{name}: {s}" for s in SKIPPED_CASE.findall(out)]

    order = [b for b in ("io_uring", "epoll", "other") if b in counts]
    parts = [f"{b} {counts[b][0]} ran, {counts[b][1]} skipped" for b in order]
    parts.append(f"{len(skipped_cases)} test cases skipped inside suites")
    print(f"{build}: " + "; ".join(parts))
    for s in skipped_entries:
        print(f"  skipped entry {s}")
    for s in skipped_cases:
        print(f"  skipped case  {s}")

    if require_all() and (skipped_entries or skipped_cases):
        print(f"FAILED: {len(skipped_entries)} test entries and {len(skipped_cases)} test cases in {build} "
              "did not run, and CI=true (or PANTS_REQUIRE_ALL=1) requires every one to run. "
              "Make their precondition available (io_uring: seccomp, kernel.io_uring_disabled, "
              "PANTS_URING_SETUP_FAIL), or run without CI=true to accept the skips.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
