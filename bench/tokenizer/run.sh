#!/usr/bin/env bash
# Tokenizer benchmark: medenc against Hugging Face's own Rust tokenizers (npm `tokenizers`, the
# official binding), on the same few MB of clinical text, in the same run. Prints one table.
#   bench/tokenizer/run.sh            (env: BUILD_DIR, default ./build; DATA_DIR, default ../shared/data)
# The corpus (ROCO captions, IU X-ray reports, MTSamples transcriptions, MedMentions abstracts) is
# read from DATA_DIR and never written into the repository.
set -euo pipefail
source "$(dirname "$0")/common.sh"
repeats="${REPEATS:-3}"
build_tool bench.cpp "$tmp/bench"
python3 "$here/bench_corpus.py" "$data" "$tmp/corpus.jsonl"

for t in modernbert-base bert-base-uncased; do
  dir="$root/tests/data/tokenizers/$t"
  "$tmp/bench" "$dir" "$t" "$tmp/corpus.jsonl" "$repeats"
  TOKENIZERS_PARALLELISM=false node "$here/bench.js" "$dir/tokenizer.json" "$t" "$tmp/corpus.jsonl" single "$repeats"
  node "$here/bench.js" "$dir/tokenizer.json" "$t" "$tmp/corpus.jsonl" batched "$repeats"
done > "$tmp/results.jsonl"

python3 - "$tmp/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
r0 = rows[0]
print(f"corpus: {r0['docs']} documents, {r0['mb']:.2f} MB; encode with special tokens, no truncation; best of runs")
print(f"{'tokenizer':<18} {'mode':<8} {'threads':>7} {'medenc MB/s':>12} {'HF MB/s':>9} {'medenc ktok/s':>14} {'HF ktok/s':>10} {'speed-up':>9}  same ids")
for tok in dict.fromkeys(r['tokenizer'] for r in rows):
    for mode in ('single', 'batched'):
        m = next(r for r in rows if r['tokenizer'] == tok and r['mode'] == mode and r['lib'] == 'medenc')
        h = next(r for r in rows if r['tokenizer'] == tok and r['mode'] == mode and r['lib'] == 'huggingface')
        same = 'yes' if (m['tokens'], m['checksum']) == (h['tokens'], h['checksum']) else 'NO'
        print(f"{tok:<18} {mode:<8} {m['threads']:>7} {m['mb_per_s']:>12.2f} {h['mb_per_s']:>9.2f} {m['ktokens_per_s']:>14.0f} "
              f"{h['ktokens_per_s']:>10.0f} {m['mb_per_s'] / h['mb_per_s']:>8.1f}x  {same}")
PY
