#!/usr/bin/env bash
# Regenerates models/medical-relevance bit for bit, in two stages (medenc's training is deterministic:
# fixed seeds, fixed data order, fixed thread count). Data from ../shared/data (redistributable sources
# only, see bench/finetune/relevance_data.py) and text written for medenc (CC0,
# bench/finetune/relevance_synthetic.py and relevance_terms.py).
#   stage 1  a small ModernBERT trained from scratch on the first mix (--recipe scratch), 1,000 steps at up
#            to 1,024 tokens (6 to 13 min on 2 cores); its F32 weights rounded to BF16 (sha256 $STAGE1_SHA256)
#   stage 2  stage 1 fine-tuned on the second mix (--recipe stage2: authored titles, sentences, dosing lines,
#            notes and result lines of both classes, and as many texts of the first mix), 750 steps at up to 256
#            tokens (~4 min); rounded to BF16 again: the shipped weights
# Variables:
#   SHARED  the folder holding data/ (default: ../shared next to the repository)
#   WORK    scratch folder for the data and the models (default: /tmp/medenc-relevance)
#   OUT     where the model folder goes (default: this folder; the sha256 is printed to compare with README.md)
#   STAGE1  a folder with stage 1's BF16 weights to start stage 2 from, skipping stage 1 (default: none:
#           stage 1 is trained into $WORK/stage1)
#   EXTRA   extra `medenc train` arguments for the last stage (e.g. "--max-steps 20" for a quick try; the weights then differ)
# The thread count is part of the recipe: 2 threads (the sums' order depends on it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${WORK:-/tmp/medenc-relevance}
OUT=${OUT:-$HERE}
STAGE1=${STAGE1:-}
EXTRA=${EXTRA:-}
MEDENC=${MEDENC:-$ROOT/build/medenc}
STAGE1_SHA256=6227aa19cde105ccfc9c1793ed050e32fb9465172363a0665f2631c613273638
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ -x "$MEDENC" ] || { echo "no medenc binary at $MEDENC (scripts/setup.sh builds it)" >&2; exit 1; }
[ -d "$SHARED/data" ] || { echo "no shared data at $SHARED/data (set SHARED)" >&2; exit 1; }
mkdir -p "$WORK"
TRAIN_COMMON=(--seed 19 --task regression --label-field score --score-min 1 --score-max 5 --num-train-epochs 1
  --per-device-train-batch-size 16 --weight-decay 0.01 --group-by-length --save-strategy no --threads 2
  --overwrite-output-dir)

# The label's name in config.json: medical_relevance in the shipped folder; medenc train keeps a base's
# regression head only when its label is named as the task names it (LABEL_0).
name_label() {
  /usr/bin/python3 - "$1/config.json" "$2" <<'EOF'
import json, sys
path, label = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["id2label"], c["label2id"] = {"0": label}, {label: 0}
json.dump(c, open(path, "w"), indent=2)
open(path, "a").write("\n")
EOF
}

sha_of() { sha256sum "$1/model.safetensors" 2>/dev/null | cut -d' ' -f1; }

# Stage 1 (skipped when STAGE1 names its weights).
if [ -z "$STAGE1" ]; then
  STAGE1=$WORK/stage1
  /usr/bin/python3 "$ROOT/bench/finetune/relevance_data.py" --shared "$SHARED/data" --out "$WORK/data" --recipe scratch
  rm -rf "$WORK/base" "$WORK/f32_1" "$STAGE1"
  "$MEDENC" init --arch ModernBertForSequenceClassification --config "$ROOT/bench/finetune/relevance_model.json" \
    --problem-type regression --num-labels 1 --seed 1 --tokenizer "$ROOT/tests/data/tokenizers/modernbert-base" \
    --out "$WORK/base"
  "$MEDENC" train --model "$WORK/base" --from-scratch "${TRAIN_COMMON[@]}" --train "$WORK/data/train.jsonl" \
    --learning-rate 5e-4 --warmup-ratio 0.06 --max-length 1024 --logging-steps 100 --out "$WORK/f32_1"
  /usr/bin/python3 "$ROOT/bench/finetune/to_bf16.py" "$WORK/f32_1" "$STAGE1"
fi
sha1=$(sha_of "$STAGE1")
[ -n "$sha1" ] || { echo "no stage 1 weights in $STAGE1" >&2; exit 1; }
echo "stage 1: $sha1  $STAGE1/model.safetensors" >&2
[ "$sha1" = "$STAGE1_SHA256" ] || echo "note: stage 1 weights differ from the recorded $STAGE1_SHA256" >&2

# Stage 2.
rm -rf "$WORK/stage1_base" && cp -r "$STAGE1" "$WORK/stage1_base"
name_label "$WORK/stage1_base" LABEL_0
/usr/bin/python3 "$ROOT/bench/finetune/relevance_data.py" --shared "$SHARED/data" --out "$WORK/data2" --recipe stage2 \
  --seed 20 --train-per-class 3000 --replay-per-class 3000 --synthetic-seed 23
rm -rf "$WORK/f32_2"
"$MEDENC" train --model "$WORK/stage1_base" "${TRAIN_COMMON[@]}" --train "$WORK/data2/train.jsonl" \
  --learning-rate 1.5e-4 --warmup-ratio 0.1 --max-length 256 --logging-steps 50 --out "$WORK/f32_2" $EXTRA
/usr/bin/python3 "$ROOT/bench/finetune/to_bf16.py" "$WORK/f32_2" "$OUT"
name_label "$OUT" medical_relevance
sha256sum "$OUT/model.safetensors"
