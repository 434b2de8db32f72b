#!/usr/bin/env bash
# Builds the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ (the
# "asan" preset of CMakePresets.json) and runs ctest there: the gtest cases, the CLI they spawn, the
# servers the serve tests start and the CLI the mock-Hub tests drive are all the sanitized build.
# Slower than scripts/test.sh (a cold build takes a while and the tests run a few times slower), so
# it is a separate command, not CI.
#   scripts/test-sanitizers.sh [ctest arguments, e.g. -R Tokenizer]
#   JOBS=2 scripts/test-sanitizers.sh      # build and test parallelism (default: all cores)
# Any ASan/UBSan report fails the test that caused it (abort_on_error, halt_on_error). Leaks are
# checked; scripts/sanitizers/lsan.supp holds the only suppressions (third-party caches, each
# explained). The Python package's tests are not in this run (the preset builds no extension: an
# ASan extension needs libasan preloaded into an uninstrumented CPython).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
cmake --preset asan
cmake --build --preset asan -j"$jobs"
ctest --preset asan -j"$jobs" "$@"
