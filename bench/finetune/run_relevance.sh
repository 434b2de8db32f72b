#!/usr/bin/env bash
# Medical vs non-medical relevance as a score regression (medical 5: ROCO captions, IU X-ray reports,
# MTSamples notes, MedMentions abstracts; non-medical 1: WikiText, State of the Union): the relevance seed
# recipe (3 epochs, batch 16, weight decay 0.01) with balanced sampling around 3, from scratch; tested on
# held-out texts, accuracy and ROC-AUC at <= 3 vs > 3.
source "$(dirname "$0")/common.sh"
begin_run relevance
timed "$LOG" "$MEDENC" train --model "$WORK/base" --from-scratch --task regression \
  --train "$D/train.jsonl" --label-field score --score-min 1 --score-max 5 --balance-threshold 3 \
  --learning-rate 5e-4 --num-train-epochs 3 --per-device-train-batch-size 16 --weight-decay 0.01 --warmup-ratio 0.06 \
  --max-length 256 --regression-threshold 3 --save-strategy epoch --save-total-limit 1 --logging-steps 100 \
  --threads "$THREADS" --out "$OUT/model" --overwrite-output-dir $EXTRA >"$OUT/train.json"
timed "$LOG" "$MEDENC" eval --model "$OUT/model" --data "$D/test.jsonl" --label-field score --regression-threshold 3 \
  --max-length 256 --threads "$THREADS" --out "$OUT/test_metrics.json"
timed "$LOG" "$MEDENC" classify --model "$OUT/model" --max-length 256 --threads "$THREADS" --id-field source \
  --out "$OUT/test_predictions.jsonl" "$D/test.jsonl"
python3 "$HERE/summarize.py" relevance "$OUT" "$D/test.jsonl"
