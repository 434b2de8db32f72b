#!/usr/bin/env bash
# Parity check on text no test has seen: medenc against Hugging Face's own library (npm
# `tokenizers`) on real clinical text from DATA_DIR plus random Unicode, for the bundled ModernBERT
# and BERT tokenizers (plain, truncated with windows, pairs) and for tokenizer.json variants that
# exercise the other components. Every field is compared: ids, tokens, offsets, type ids, special
# tokens mask, attention mask, word ids, sequence ids, the overflowing windows, and decode().
#   bench/tokenizer/parity.sh        (env: BUILD_DIR, default ./build; DATA_DIR, default ../shared/data)
set -euo pipefail
source "$(dirname "$0")/common.sh"
build_tool parity.cpp "$tmp/parity"
python3 "$here/parity_inputs.py" "$data" "$tmp/inputs.jsonl" --seed "${SEED:-1}"
head -n 2500 "$tmp/inputs.jsonl" > "$tmp/small.jsonl"
tail -n 400 "$tmp/inputs.jsonl" >> "$tmp/small.jsonl"
python3 "$here/parity_configs.py" "$root/tests/data/tokenizers" "$tmp/configs" >/dev/null
set +e
failed=0
run() {  # run TOKENIZER_JSON INPUTS LABEL OPTIONS...
  local tok="$1" in="$2" label="$3"
  shift 3
  "$tmp/parity" "$tok" "$@" < "$in" > "$tmp/ours.jsonl"
  node "$here/parity.js" "$tok" "$@" < "$in" > "$tmp/hf.jsonl" 2>/dev/null
  printf '%-34s %-52s ' "$label" "$*"
  python3 "$here/parity_compare.py" "$in" "$tmp/ours.jsonl" "$tmp/hf.jsonl" || failed=1
}
for t in modernbert-base bert-base-uncased bert-base-cased; do
  json="$root/tests/data/tokenizers/$t/tokenizer.json"
  run "$json" "$tmp/inputs.jsonl" "$t" --decode
  run "$json" "$tmp/inputs.jsonl" "$t" --max-length 64 --stride 16 --stop-at-max-length
  run "$json" "$tmp/inputs.jsonl" "$t" --max-length 24 --strategy only_first --stop-at-max-length
  run "$json" "$tmp/small.jsonl" "$t" --max-length 48 --stride 8 --left --stop-at-max-length
  run "$json" "$tmp/small.jsonl" "$t" --max-length 9 --no-special --stop-at-max-length
done
for c in "$tmp"/configs/*.json; do
  run "$c" "$tmp/small.jsonl" "$(basename "$c" .json)" --decode
  run "$c" "$tmp/small.jsonl" "$(basename "$c" .json)" --max-length 20 --stride 4 --stop-at-max-length
done
exit $failed
