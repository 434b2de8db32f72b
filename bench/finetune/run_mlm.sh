#!/usr/bin/env bash
# Clinical ModernBERT's recipe (masked LM, masking 30% -> 15%) on medical text from the training splits,
# evaluated by top-1/5/10/25 accuracy on MedMentions test sentences.
source "$(dirname "$0")/common.sh"
begin_run mlm
timed "$LOG" "$MEDENC" train --model "$WORK/base" --from-scratch --task mlm --train "$D/train.txt" \
  --mlm-probability 0.3 --mlm-probability-end 0.15 --per-device-train-batch-size 32 --num-train-epochs 2 \
  --learning-rate 5e-4 --warmup-ratio 0.06 --weight-decay 0.01 --max-length 128 --save-strategy epoch \
  --save-total-limit 1 --logging-steps 100 --threads "$THREADS" --out "$OUT/model" --overwrite-output-dir $EXTRA \
  >"$OUT/train.json"
timed "$LOG" "$MEDENC" eval --model "$OUT/model" --data "$D/test.txt" --mlm-probability 0.15 --max-length 128 \
  --threads "$THREADS" --out "$OUT/test_metrics.json"
python3 "$HERE/summarize.py" mlm "$OUT"
