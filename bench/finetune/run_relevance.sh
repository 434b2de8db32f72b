#!/usr/bin/env bash
# (c) Medical vs non-medical relevance, regression 5 vs 1: the recipe of the shipped model
# (models/medical-relevance/train.sh: stage 1 from scratch on redistributable sources only, WikiText
# detokenized, windows of every length, case and punctuation varied on both sides; stage 2 fine-tuned on
# text written for medenc in both classes plus a replay of stage 1's mix), then its evaluation
# (relevance_card_tables.sh, the model card's tables): held-out documents of the training sources, IU
# X-ray and MTSamples (never trained on), and the out-of-collection texts of relevance_unseen.jsonl and
# relevance_unseen2.jsonl (overall figures only), also lowercased without punctuation. Stage 1's weights stay in $WORK/relevance/stage1 for
# run_relevance_finetune.sh.
source "$(dirname "$0")/common.sh"
OUT=$WORK/relevance
mkdir -p "$OUT"
start=$SECONDS
SHARED=$SHARED WORK=$OUT OUT=$OUT/model MEDENC=$MEDENC EXTRA=$EXTRA "$ROOT/models/medical-relevance/train.sh" \
  2>"$OUT/train_log.txt"
echo "  ($(( SECONDS - start )) s: data, training, bf16)" >&2
SHARED=$SHARED WORK=$OUT MODEL=$OUT/model MEDENC=$MEDENC "$HERE/relevance_card_tables.sh" | tee "$OUT/report.md"
