#!/usr/bin/env bash
# (c') Stage 2 of the shipped medical relevance model alone, then its evaluation: stage 1's weights
# fine-tuned on the second mix (relevance_data.py --recipe stage2: text written for medenc in both
# classes, see relevance_synthetic.py, plus a replay of the first mix), as models/medical-relevance/train.sh
# does after stage 1. Cheap (~4 min on 2 shared cores), so that the second mix can be changed and rerun.
#   STAGE1  the folder with stage 1's BF16 weights (default: $WORK/relevance/stage1, which
#           run_relevance.sh leaves; trained from scratch first, ~22 min, when it is not there)
# Writes the model to $WORK/relevance_stage2/model and evaluates it on the held-out documents and both
# out-of-collection sets (relevance_eval.py).
source "$(dirname "$0")/common.sh"
OUT=$WORK/relevance_stage2
mkdir -p "$OUT"
start=$SECONDS
SHARED=$SHARED WORK=$WORK/relevance OUT=$OUT/model MEDENC=$MEDENC EXTRA=$EXTRA \
  STAGE1=${STAGE1:-$WORK/relevance/stage1} "$ROOT/models/medical-relevance/train.sh" 2>"$OUT/train_log.txt"
echo "  ($(( SECONDS - start )) s: data, training, bf16)" >&2
/usr/bin/python3 "$HERE/relevance_eval.py" --model "$OUT/model" --medenc "$MEDENC" --threads "$THREADS" --variants \
  --out "$OUT/report.json" "$WORK/relevance/data/eval.jsonl" "$HERE/relevance_unseen.jsonl" "$HERE/relevance_unseen2.jsonl" |
  tee "$OUT/report.md"
