#!/usr/bin/env bash
# Shared settings of the fine-tuning benchmarks (sourced by run_*.sh).
#   SHARED  the shared data folder (default: ../shared next to the repository); read at run time only
#   WORK    where data, models and results go (default: /tmp/medenc-finetune)
#   MEDENC  the medenc binary (default: build/medenc in the repository)
#   THREADS threads for training and evaluation (default: 2)
#   EXTRA   extra `medenc train` arguments (e.g. "--max-steps 5" to try a script quickly)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-$(cd "$ROOT/../shared" && pwd)}
WORK=${WORK:-/tmp/medenc-finetune}
MEDENC=${MEDENC:-$ROOT/build/medenc}
THREADS=${THREADS:-2}
EXTRA=${EXTRA:-}
# Idle OpenMP threads sleep instead of spinning: on a shared CPU, spinning threads that lose their core
# stall every barrier (measured here: 2 threads at 420 tokens/s spinning vs 3,100 passive).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ -x "$MEDENC" ] || { echo "no medenc binary at $MEDENC (build it, or set MEDENC)" >&2; exit 1; }

# The benchmark datasets, built once from $SHARED/data.
prepare_data() {
  if [ ! -f "$WORK/data/.done" ] || [ ! -d "$WORK/data/mlm" ]; then
    python3 "$HERE/prepare_data.py" "$SHARED/data" "$WORK/data"
    touch "$WORK/data/.done"
  fi
}

# A small ModernBERT (hidden 256, 4 layers, 4 heads, the ModernBERT tokenizer) to train from scratch:
# no pretrained weights are reachable here.
base_model() {
  if [ ! -f "$WORK/base/config.json" ]; then
    "$MEDENC" init --arch ModernBertForMaskedLM --config "$HERE/modernbert_small.json" \
      --tokenizer "$SHARED/data/tokenizers/modernbert-base" --out "$WORK/base" --seed 1
  fi
}

# Data and base model ready; D=$WORK/data/NAME, OUT=$WORK/OUT_NAME (default NAME), LOG=$OUT/log.txt (emptied).
begin_run() {
  prepare_data
  base_model
  D=$WORK/data/$1
  OUT=$WORK/${2:-$1}
  mkdir -p "$OUT"
  LOG=$OUT/log.txt
  : >"$LOG"
}

# Runs a command, appending its stderr to LOG, and prints how long it took.
timed() {
  local log=$1
  shift
  local start=$SECONDS
  "$@" 2>>"$log"
  echo "  ($(( SECONDS - start )) s: $*)" | cut -c1-200 >&2
}
