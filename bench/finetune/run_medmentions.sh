#!/usr/bin/env bash
# MedMentions NER over the 21 ST21pv semantic types (full-corpus types mapped up the UMLS semantic
# type tree): the MedMentions seed recipe (batch 6, 6 epochs, weight decay 0.01), trained from scratch on
# the dev split (878 abstracts) and tested on the test split (879 abstracts), seqeval entity scores.
# FROM=CHECKPOINT OUT_NAME=NAME start from a checkpoint instead of a random init (run_mlm_ner.sh).
source "$(dirname "$0")/common.sh"
begin_run medmentions "${OUT_NAME:-medmentions}"
if [ -n "${FROM:-}" ]; then INIT=(--model "$FROM"); else INIT=(--model "$WORK/base" --from-scratch); fi
timed "$LOG" "$MEDENC" train "${INIT[@]}" --task ner \
  --train "$D/dev.conll" --label-map "$D/st21pv_map.tsv" \
  --per-device-train-batch-size 6 --num-train-epochs 6 --learning-rate 5e-4 --weight-decay 0.01 --warmup-ratio 0.06 \
  --max-length 128 --save-strategy epoch --save-total-limit 1 --logging-steps 200 \
  --threads "$THREADS" --out "$OUT/model" --overwrite-output-dir $EXTRA >"$OUT/train.json"
timed "$LOG" "$MEDENC" eval --model "$OUT/model" --data "$D/test.conll" --label-map "$D/st21pv_map.tsv" \
  --threads "$THREADS" --out "$OUT/test_metrics.json"
python3 "$HERE/summarize.py" medmentions "$OUT"
