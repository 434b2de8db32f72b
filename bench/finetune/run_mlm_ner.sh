#!/usr/bin/env bash
# MedMentions NER fine-tuned from the masked-LM checkpoint of run_mlm.sh (its encoder kept, only the
# classifier new), with the same settings as run_medmentions.sh: does a little pre-training help?
source "$(dirname "$0")/common.sh"
[ -f "$WORK/mlm/model/config.json" ] || bash "$HERE/run_mlm.sh"
MLM=$WORK/mlm/model
begin_run medmentions
OUT=$WORK/mlm_ner
mkdir -p "$OUT"
LOG=$OUT/log.txt
: >"$LOG"
timed "$LOG" "$MEDENC" train --model "$MLM" --task ner --train "$D/dev.conll" --label-map "$D/st21pv_map.tsv" \
  --per-device-train-batch-size 6 --num-train-epochs 6 --learning-rate 5e-4 --weight-decay 0.01 --warmup-ratio 0.06 \
  --max-length 128 --save-strategy epoch --save-total-limit 1 --logging-steps 200 \
  --threads "$THREADS" --out "$OUT/model" --overwrite-output-dir $EXTRA >"$OUT/train.json"
timed "$LOG" "$MEDENC" eval --model "$OUT/model" --data "$D/test.conll" --label-map "$D/st21pv_map.tsv" \
  --threads "$THREADS" --out "$OUT/test_metrics.json"
python3 "$HERE/summarize.py" medmentions "$OUT"
