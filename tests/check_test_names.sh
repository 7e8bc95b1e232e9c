#!/usr/bin/env bash
# Fails when a doctest case name would not run under CTest: doctest_discover_tests makes one CTest
# test per name, and a ';' in a name splits it into several tests whose filters match no case, so
# they pass without running anything. Usage: check_test_names.sh TEST_BINARY...
set -euo pipefail
bad=0
for binary in "$@"; do
  while IFS= read -r name; do
    echo "$(basename "$binary"): test case name with ';' (CTest would run nothing): $name" >&2
    bad=1
  done < <("$binary" --list-test-cases --no-version 2>/dev/null | grep -v '^\[doctest\]\|^====' |
    grep ';' || true)
  # The binary must list its cases at all (a broken binary would pass the check above).
  "$binary" --list-test-cases >/dev/null
done
exit "$bad"
