#!/usr/bin/env bash
# (c) Medical vs non-medical relevance, regression 5 vs 1: the recipe of the shipped model
# (models/medical-relevance/train.sh: redistributable sources only, WikiText detokenized, windows of every
# length, case and punctuation varied on both sides), then its evaluation (relevance_eval.py): held-out
# documents of the training sources, IU X-ray and MTSamples (never trained on), and the out-of-collection
# texts of relevance_unseen.jsonl, also lowercased without punctuation.
source "$(dirname "$0")/common.sh"
OUT=$WORK/relevance
mkdir -p "$OUT"
start=$SECONDS
SHARED=$SHARED WORK=$OUT OUT=$OUT/model MEDENC=$MEDENC EXTRA=$EXTRA "$ROOT/models/medical-relevance/train.sh" \
  2>"$OUT/train_log.txt"
echo "  ($(( SECONDS - start )) s: data, training, bf16)" >&2
/usr/bin/python3 "$HERE/relevance_eval.py" --model "$OUT/model" --medenc "$MEDENC" --threads "$THREADS" --variants \
  --out "$OUT/report.json" "$OUT/data/eval.jsonl" "$HERE/relevance_unseen.jsonl" | tee "$OUT/report.md"
