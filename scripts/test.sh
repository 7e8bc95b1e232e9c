#!/usr/bin/env bash
# Installs what is missing, builds into build/, and runs the whole test suite with CTest. With
# CSSS_TEST_SANITIZE=1 it then does the same with AddressSanitizer and UBSan in build-asan/ (about
# twice the time). Exits non-zero on any failure.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$CSSS_ROOT"

csss_ensure_packages "${CSSS_BUILD_PACKAGES[@]}" "${CSSS_TEST_PACKAGES[@]}"

jobs=$(nproc)
csss_build build -DCSSS_SANITIZE=OFF
echo "==> Running the test suite (build/)"
ctest --test-dir build -j "$jobs" --output-on-failure

if [ "${CSSS_TEST_SANITIZE:-0}" = 1 ]; then
  csss_build build-asan -DCSSS_SANITIZE=ON
  echo "==> Running the test suite under AddressSanitizer and UBSan (build-asan/)"
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # LeakSanitizer's tracer crashes (SIGSEGV in StopTheWorld) on LibTorch's OpenMP worker threads
  # at exit: an LSan limitation, not a leak. Processes that load the LibTorch plugin run with leak
  # detection off; ASan and UBSan stay on for them, and everything else runs with leak checks.
  loads_torch='^(torch:|cli:analyze|cli:model import)'
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    ctest --test-dir build-asan -j "$jobs" --output-on-failure -E "$loads_torch"
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    ctest --test-dir build-asan -j "$jobs" --output-on-failure -R "$loads_torch"
fi
echo "==> All tests passed"
