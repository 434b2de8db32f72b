#!/usr/bin/env bash
# Builds the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ (the
# "asan" preset of CMakePresets.json) and runs ctest there. Slower than scripts/test.sh (the build
# takes a while from cold and the tests run a few times slower), so it is a separate command, not CI.
#   scripts/test-sanitizers.sh [ctest arguments, e.g. -R Tokenizer]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset asan
cmake --build --preset asan -j"$(nproc)"
# Leaks are checked; any report fails the test that caused it (halt_on_error / abort_on_error).
ctest --preset asan -j"$(nproc)" "$@"
