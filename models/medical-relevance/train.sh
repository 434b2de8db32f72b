#!/usr/bin/env bash
# Regenerates models/medical-relevance bit for bit: data from ../shared/data (redistributable sources
# only, see bench/finetune/relevance_data.py), a small ModernBERT trained from scratch by `medenc train`
# (deterministic: fixed seed, fixed data order, fixed thread count), its F32 weights rounded to BF16
# (round to nearest even, bench/finetune/to_bf16.py).
#   SHARED  the folder holding data/ (default: ../shared next to the repository)
#   WORK    scratch folder for the data and the F32 model (default: /tmp/medenc-relevance)
#   OUT     where the model folder goes (default: this folder; the sha256 is printed to compare with README.md)
#   EXTRA   extra `medenc train` arguments (e.g. "--max-steps 20" for a quick try; the weights then differ)
# The thread count is part of the recipe: 2 threads (the sums' order depends on it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${WORK:-/tmp/medenc-relevance}
OUT=${OUT:-$HERE}
EXTRA=${EXTRA:-}
MEDENC=${MEDENC:-$ROOT/build/medenc}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ -x "$MEDENC" ] || { echo "no medenc binary at $MEDENC (scripts/setup.sh builds it)" >&2; exit 1; }
[ -d "$SHARED/data" ] || { echo "no shared data at $SHARED/data (set SHARED)" >&2; exit 1; }
mkdir -p "$WORK"

/usr/bin/python3 "$ROOT/bench/finetune/relevance_data.py" --shared "$SHARED/data" --out "$WORK/data"
rm -rf "$WORK/base" "$WORK/f32"
"$MEDENC" init --arch ModernBertForSequenceClassification --config "$ROOT/bench/finetune/relevance_model.json" \
  --problem-type regression --num-labels 1 --seed 1 --tokenizer "$ROOT/tests/data/tokenizers/modernbert-base" \
  --out "$WORK/base"
"$MEDENC" train --model "$WORK/base" --from-scratch --seed 19 --task regression \
  --train "$WORK/data/train.jsonl" --label-field score --score-min 1 --score-max 5 \
  --learning-rate 5e-4 --num-train-epochs 1 --per-device-train-batch-size 16 --weight-decay 0.01 --warmup-ratio 0.06 \
  --max-length 1024 --group-by-length --save-strategy no --logging-steps 100 --threads 2 \
  --out "$WORK/f32" --overwrite-output-dir $EXTRA
/usr/bin/python3 "$ROOT/bench/finetune/to_bf16.py" "$WORK/f32" "$OUT"
/usr/bin/python3 - "$OUT/config.json" <<'EOF'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["id2label"], c["label2id"] = {"0": "medical_relevance"}, {"medical_relevance": 0}
json.dump(c, open(path, "w"), indent=2)
open(path, "a").write("\n")
EOF
sha256sum "$OUT/model.safetensors"
