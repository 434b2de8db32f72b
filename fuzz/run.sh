#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ (clang, ASan + UBSan) and runs each for SECONDS
# (default 600) on a copy of its committed seed corpus, JOBS targets at a time (default 1; a plain
# libFuzzer run is one process on one thread). Crashes are written to fuzz/artifacts/, with a log per
# target; a summary line per target goes to stdout. With MERGE=1, the inputs a run found that add
# coverage are merged into fuzz/corpus/TARGET (libFuzzer -merge=1: the existing seeds stay).
#   [JOBS=2] [MERGE=1] fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_tokenizer fuzz_tokenizer_json fuzz_safetensors fuzz_config fuzz_documents fuzz_training_data)
jobs=${JOBS:-1}
# The uninstrumented rest of the library: the normal build's, when there is one (much quicker).
prebuilt=""
[ -f build/libmedenc_core.a ] && prebuilt="-DMEDENC_FUZZ_PREBUILT_DIR=$PWD/build"
cmake -S . -B build-fuzz -DMEDENC_BUILD_FUZZ=ON -DMEDENC_BUILD_TESTS=OFF -DMEDENC_BUILD_PYTHON=OFF \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo $prebuilt > /dev/null
cmake --build build-fuzz -j2 --target "${targets[@]}"
mkdir -p fuzz/artifacts

run_one() {
  local t=$1 work start status runs cov
  work=$(mktemp -d)
  cp -r "fuzz/corpus/$t/." "$work/"
  start=$(date +%s)
  status=clean
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "build-fuzz/fuzz/$t" -max_total_time="$seconds" -max_len=8192 -timeout=20 -rss_limit_mb=4096 \
    -artifact_prefix="fuzz/artifacts/$t-" -print_final_stats=1 "$work" > "fuzz/artifacts/$t.log" 2>&1 || status=FAILED
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/artifacts/$t.log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "fuzz/artifacts/$t.log" | tail -1 | grep -o '[0-9]*' || echo '?')
  if [ "${MERGE:-0}" = 1 ] && [ "$status" = clean ]; then
    "build-fuzz/fuzz/$t" -merge=1 -max_len=8192 "fuzz/corpus/$t" "$work" > "fuzz/artifacts/$t.merge.log" 2>&1 ||
      echo "$t: merge failed (fuzz/artifacts/$t.merge.log)"
  fi
  echo "$t: $status after $(( $(date +%s) - start )) s, $runs runs, coverage $cov edges"
  rm -rf "$work"
}

running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait
