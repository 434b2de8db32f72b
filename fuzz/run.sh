#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ (clang, ASan + UBSan) and runs each in turn for
# SECONDS (default 600) on a copy of its committed seed corpus, one process at a time (a plain
# libFuzzer run is one job on one thread). Crashes are
# written to fuzz/artifacts/; a summary line per target goes to stdout.
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_tokenizer fuzz_tokenizer_json fuzz_safetensors fuzz_config fuzz_documents fuzz_training_data)
# The uninstrumented rest of the library: the normal build's, when there is one (quicker).
rest=""
[ -f build/libmedenc.a ] && rest="-DMEDENC_FUZZ_REST_LIB=$PWD/build/libmedenc.a"
cmake -S . -B build-fuzz -DMEDENC_BUILD_FUZZ=ON -DMEDENC_BUILD_TESTS=OFF -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo $rest > /dev/null
cmake --build build-fuzz -j2 --target "${targets[@]}"
mkdir -p fuzz/artifacts
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  cp -r "fuzz/corpus/$t/." "$work/"
  start=$(date +%s)
  status=clean
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "build-fuzz/fuzz/$t" -max_total_time="$seconds" -max_len=8192 -timeout=20 -rss_limit_mb=4096 \
    -artifact_prefix="fuzz/artifacts/$t-" -print_final_stats=1 "$work" > "fuzz/artifacts/$t.log" 2>&1 || status=FAILED
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/artifacts/$t.log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "fuzz/artifacts/$t.log" | tail -1 | grep -o '[0-9]*' || echo '?')
  echo "$t: $status after $(( $(date +%s) - start )) s, $runs runs, coverage $cov edges"
  rm -rf "$work"
done
