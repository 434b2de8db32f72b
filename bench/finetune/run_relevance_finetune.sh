#!/usr/bin/env bash
# (c') Stage 2 of the shipped medical relevance model alone, then its evaluation: stage 1's weights
# fine-tuned on the second mix (relevance_data.py --recipe stage2: text written for medenc in both
# classes, see relevance_synthetic.py, plus a replay of the first mix), as models/medical-relevance/train.sh
# does after stage 1. Cheap (~4 min on 2 shared cores), so that the second mix can be changed and rerun.
#   STAGE1  the folder with stage 1's BF16 weights (default: $WORK/relevance/stage1, which
#           run_relevance.sh leaves; stage 1 is trained there first, ~22 min, when it is not there)
# Writes the model to $WORK/relevance_stage2/model and prints the model card's tables for it
# (relevance_card_tables.sh: held-out documents, set 1, set 2's overall figures).
source "$(dirname "$0")/common.sh"
OUT=$WORK/relevance_stage2
mkdir -p "$OUT"
start=$SECONDS
stage1=${STAGE1:-$WORK/relevance/stage1}
[ -f "$stage1/model.safetensors" ] || stage1=  # train.sh trains stage 1 into $WORK/relevance/stage1 first
SHARED=$SHARED WORK=$WORK/relevance OUT=$OUT/model MEDENC=$MEDENC EXTRA=$EXTRA STAGE1=$stage1 \
  "$ROOT/models/medical-relevance/train.sh" 2>"$OUT/train_log.txt"
echo "  ($(( SECONDS - start )) s: data, training, bf16)" >&2
SHARED=$SHARED WORK=$WORK/relevance MODEL=$OUT/model MEDENC=$MEDENC "$HERE/relevance_card_tables.sh" | tee "$OUT/report.md"
