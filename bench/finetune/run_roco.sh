#!/usr/bin/env bash
# ROCO radiology captions -> UMLS CUIs (multi-label, the 50 most frequent CUIs): the radiology-CUI seed
# recipe (BCE, 20 epochs, eval and save each epoch, best by micro F1, 3 checkpoints kept), trained from
# scratch on 90% of ROCO's validation split, the best epoch picked on the other 10%, tested on the test split.
source "$(dirname "$0")/common.sh"
begin_run roco
timed "$LOG" "$MEDENC" train --model "$WORK/base" --from-scratch --task multi-label \
  --train "$D/train.jsonl" --eval "$D/dev.jsonl" --label-list "$D/labels.txt" \
  --num-train-epochs 20 --eval-strategy epoch --save-strategy epoch --save-total-limit 3 \
  --load-best-model-at-end --metric-for-best-model f1 --greater-is-better true --logging-steps 100 \
  --learning-rate 5e-4 --warmup-ratio 0.06 --per-device-train-batch-size 16 --max-length 128 \
  --threads "$THREADS" --out "$OUT/model" --overwrite-output-dir $EXTRA >"$OUT/train.json"
timed "$LOG" "$MEDENC" eval --model "$OUT/model" --data "$D/dev.jsonl" --tune-thresholds "$OUT/thresholds.json" \
  --threads "$THREADS" --out "$OUT/dev_metrics.json"
timed "$LOG" "$MEDENC" eval --model "$OUT/model" --data "$D/test.jsonl" --threads "$THREADS" --out "$OUT/test_metrics.json"
timed "$LOG" "$MEDENC" eval --model "$OUT/model" --data "$D/test.jsonl" --thresholds "$OUT/thresholds.json" \
  --threads "$THREADS" --out "$OUT/test_metrics_tuned.json"
python3 "$HERE/summarize.py" roco "$OUT"
