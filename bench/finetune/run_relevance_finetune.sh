#!/usr/bin/env bash
# EXPERIMENT, not the shipped model (see models/medical-relevance/README.md, "A second stage that was
# not shipped"): the shipped model (stage 1) fine-tuned on a second mix. Two stages: data from ../shared/data
# (redistributable sources only, see bench/finetune/relevance_data.py), a small ModernBERT trained by
# `medenc train` (deterministic: fixed seed, fixed data order, fixed thread count), its F32 weights
# rounded to BF16 after each stage (round to nearest even, bench/finetune/to_bf16.py).
#   stage 1  from scratch on the first mix (--recipe scratch), 1,000 steps at up to 1,024 tokens:
#            the shipped model, models/medical-relevance (sha256 $STAGE1_SHA256 below)
#   stage 2  stage 1 fine-tuned on the second mix (--recipe finetune), 150 steps at up to 128 tokens
# Variables:
#   SHARED  the folder holding data/ (default: ../shared next to the repository)
#   WORK    scratch folder for the data and the F32 models (default: /tmp/medenc-relevance)
#   OUT     where the stage 2 model folder goes (default: $WORK/stage2)
#   BASE    the folder with stage 1's model (default: models/medical-relevance; checked by sha256);
#           BASE= (empty) retrains stage 1 from scratch first (models/medical-relevance/train.sh's recipe)
#   EXTRA   extra `medenc train` arguments for stage 2 (e.g. "--max-steps 20" for a quick try; the weights then differ)
# The thread count is part of the recipe: 2 threads (the sums' order depends on it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${WORK:-/tmp/medenc-relevance}
OUT=${OUT:-$WORK/stage2}
BASE=${BASE-$ROOT/models/medical-relevance}
EXTRA=${EXTRA:-}
MEDENC=${MEDENC:-$ROOT/build/medenc}
STAGE1_SHA256=e842a98fc98889be71be0b9f0cfcc266654dd2bb62176782b75c8313c1dcdbd5
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ -x "$MEDENC" ] || { echo "no medenc binary at $MEDENC (scripts/setup.sh builds it)" >&2; exit 1; }
[ -d "$SHARED/data" ] || { echo "no shared data at $SHARED/data (set SHARED)" >&2; exit 1; }
mkdir -p "$WORK"
TRAIN_COMMON=(--seed 19 --task regression --label-field score --score-min 1 --score-max 5
  --num-train-epochs 1 --per-device-train-batch-size 16 --weight-decay 0.01 --group-by-length
  --save-strategy no --threads 2 --overwrite-output-dir)

if [ -z "$BASE" ]; then
  BASE=$WORK/stage1
  /usr/bin/python3 "$ROOT/bench/finetune/relevance_data.py" --shared "$SHARED/data" --out "$WORK/data1" --recipe scratch
  rm -rf "$WORK/base" "$WORK/f32_1" "$BASE"
  "$MEDENC" init --arch ModernBertForSequenceClassification --config "$ROOT/bench/finetune/relevance_model.json" \
    --problem-type regression --num-labels 1 --seed 1 --tokenizer "$ROOT/tests/data/tokenizers/modernbert-base" \
    --out "$WORK/base"
  "$MEDENC" train --model "$WORK/base" --from-scratch "${TRAIN_COMMON[@]}" --train "$WORK/data1/train.jsonl" \
    --learning-rate 5e-4 --warmup-ratio 0.06 --max-length 1024 --logging-steps 100 --out "$WORK/f32_1"
  /usr/bin/python3 "$ROOT/bench/finetune/to_bf16.py" "$WORK/f32_1" "$BASE"
fi
sha1=$(sha256sum "$BASE/model.safetensors" | cut -d' ' -f1)
[ "$sha1" = "$STAGE1_SHA256" ] || echo "warning: stage 1 weights $sha1, not the recorded $STAGE1_SHA256" >&2

# medenc train keeps a base's regression head only when its label is named as the task names it
# (LABEL_0); the shipped config names it medical_relevance.
rm -rf "$WORK/stage1_base" && cp -r "$BASE" "$WORK/stage1_base"
/usr/bin/python3 - "$WORK/stage1_base/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["id2label"], c["label2id"] = {"0": "LABEL_0"}, {"LABEL_0": 0}
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
/usr/bin/python3 "$ROOT/bench/finetune/relevance_data.py" --shared "$SHARED/data" --out "$WORK/data2" --recipe finetune \
  --train-per-class 1200
rm -rf "$WORK/f32_2"
"$MEDENC" train --model "$WORK/stage1_base" "${TRAIN_COMMON[@]}" --train "$WORK/data2/train.jsonl" \
  --learning-rate 1.5e-4 --warmup-ratio 0.1 --max-length 128 --logging-steps 10 --out "$WORK/f32_2" $EXTRA
/usr/bin/python3 "$ROOT/bench/finetune/to_bf16.py" "$WORK/f32_2" "$OUT"
/usr/bin/python3 - "$OUT/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["id2label"], c["label2id"] = {"0": "medical_relevance"}, {"medical_relevance": 0}
json.dump(c, open(path, "w"), indent=2)
open(path, "a").write("\n")
PY
sha256sum "$OUT/model.safetensors"
