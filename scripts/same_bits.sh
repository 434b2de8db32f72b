#!/usr/bin/env bash
# Checks that two medenc binaries give the same bits: a refactor that must change no numbers (e.g. moving
# code behind the op seam) runs this with the binary before and after. For each binary it runs `forward`
# on every fixture (f32 and bf16), `init` and 3 training steps for every family x head (dropout on,
# ModernBERT with mean pooling too), then classify / embed / ner / fill-mask on the results, and
# compares the sha256 of every output. Usage: scripts/same_bits.sh OLD_MEDENC NEW_MEDENC [WORKDIR]
# (single-threaded runs of a few minutes each; exit 0 when every output is identical).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_MEDENC NEW_MEDENC [WORKDIR]" >&2; exit 2; }
DATA=$(cd "$(dirname "$0")/../tests/data" && pwd)
WORK=${3:-$(mktemp -d)}
OLD=$(realpath "$1"); NEW=$(realpath "$2")

outputs() {  # BIN OUT
  local BIN=$1 OUT=$2 TOK_B=$DATA/tokenizers/bert-base-uncased TOK_M=$DATA/tokenizers/modernbert-base
  rm -rf "$OUT"; mkdir -p "$OUT"
  for f in "$DATA"/fixtures/*/; do
    local n; n=$(basename "$f"); [ -f "$f/inputs.json" ] || continue
    for dtype in f32 bf16; do
      "$BIN" forward --model "$f" --inputs "$f/inputs.json" --out "$OUT/fwd_${dtype}_$n.safetensors" --threads 1 \
        --dtype $dtype >/dev/null 2>&1
    done
  done
  "$BIN" init --arch ModernBertForSequenceClassification --config tiny --out "$OUT/mb_tmp" --seed 3 >/dev/null
  python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
c = json.load(open(out + '/mb_tmp/config.json'))
c.update(classifier_pooling='mean', attention_dropout=0.1, mlp_dropout=0.1, embedding_dropout=0.1, classifier_dropout=0.1)
json.dump(c, open(out + '/mb_mean.json', 'w'))
PY
  rm -rf "$OUT/mb_tmp"
  head -3 "$DATA/trainer/roco_ccby_80.jsonl" > "$OUT/in.jsonl"
  sed 's/ the / [MASK] /; s/ of / <mask> /' "$OUT/in.jsonl" > "$OUT/in_mask.jsonl"
  local spec
  for spec in "BertForSequenceClassification tiny $TOK_B b_seq" "BertForTokenClassification tiny $TOK_B b_tok" \
              "BertForMaskedLM tiny $TOK_B b_mlm" "MegatronBertForSequenceClassification tiny $TOK_B m_seq" \
              "MegatronBertForTokenClassification tiny $TOK_B m_tok" "MegatronBertForMaskedLM tiny $TOK_B m_mlm" \
              "ModernBertForSequenceClassification $OUT/mb_mean.json $TOK_M mb_seqmean" \
              "ModernBertForSequenceClassification tiny $TOK_M mb_seq" \
              "ModernBertForTokenClassification $OUT/mb_mean.json $TOK_M mb_tok" \
              "ModernBertForMaskedLM $OUT/mb_mean.json $TOK_M mb_mlm"; do
    set -- $spec
    local arch=$1 cfg=$2 tok=$3 name=$4 labels=() task data
    case $arch in *Sequence*) labels=(--num-labels 5) ;; esac
    "$BIN" init --arch "$arch" --config "$cfg" --out "$OUT/$name" --seed 7 "${labels[@]}" --tokenizer "$tok" >/dev/null
    case $arch in
      *Sequence*) task=multi-label; data=$DATA/trainer/roco_ccby_80.jsonl ;;
      *Token*) task=ner; data=$DATA/trainer/medmentions_dev_3docs.conll ;;
      *) task=mlm; data=$DATA/trainer/roco_ccby_80.jsonl ;;
    esac
    "$BIN" train --model "$OUT/$name" --task $task --train "$data" --out "$OUT/${name}_trained" --max-steps 3 \
      --batch-size 4 --max-length 48 --save-strategy no --threads 1 >/dev/null 2>&1
    case $arch in
      *Masked*) "$BIN" fill-mask "$OUT/in_mask.jsonl" --model "$OUT/$name" --threads 1 >"$OUT/${name}_fill.jsonl" ;;
      *Sequence*) "$BIN" classify "$OUT/in.jsonl" --model "$OUT/$name" --threads 1 >"$OUT/${name}_cls.jsonl"
                  "$BIN" embed "$OUT/in.jsonl" --model "$OUT/$name" --threads 1 >"$OUT/${name}_emb.jsonl" ;;
      *Token*) "$BIN" ner "$OUT/in.jsonl" --model "$OUT/$name" --threads 1 >"$OUT/${name}_ner.jsonl" ;;
    esac
  done
  (cd "$OUT" && find . -type f \( -name '*.safetensors' -o -name '*_*.jsonl' \) | sort | xargs sha256sum) >"$OUT.sums"
}

outputs "$OLD" "$WORK/old"
outputs "$NEW" "$WORK/new"
echo "$(wc -l <"$WORK/old.sums") outputs compared ($WORK)"
diff "$WORK/old.sums" "$WORK/new.sums" && echo "same bits"
