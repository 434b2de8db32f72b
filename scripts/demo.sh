#!/usr/bin/env bash
# The main job on a fresh machine: set up, then score a bundled mix of clinical notes, figure captions,
# abstracts and non-medical paragraphs (examples/relevance_examples.jsonl) with the medical relevance
# model trained by medenc itself (models/medical-relevance: 1 = not medical ... 5 = medical; its
# README.md says how it was trained and how well it does).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=out/demo
mkdir -p "$out"
cmd=(build/medenc classify --model models/medical-relevance --threads 2 examples/relevance_examples.jsonl
     --out "$out/scores.jsonl")
"${cmd[@]}"
echo
echo "\$ ${cmd[*]}"
echo
# One output line per input line, in order: join them for a readable table.
/usr/bin/env python3 - examples/relevance_examples.jsonl "$out/scores.jsonl" <<'EOF'
import json, sys
texts = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
scores = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
print(f"{'score':>5}  {'verdict':<11}  {'written as':<11}  text")
for t, s in zip(texts, scores):
    words = t["text"].split()
    head = " ".join(words[:11]) + (" ..." if len(words) > 11 else "")
    verdict = "medical" if s["score"] > 3 else "not medical"
    print(f"{s['score']:5.2f}  {verdict:<11}  {t['expect'].replace('non-', 'not '):<11}  {head}")
EOF
echo
echo "score: 1 = not medical ... 5 = medical; verdict medical above 3 (\"written as\": the class the example was"
echo "chosen for; the model card, models/medical-relevance/README.md, lists where it errs). All lines: $out/scores.jsonl"
