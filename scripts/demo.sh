#!/usr/bin/env bash
# The main job on a fresh machine: set up, then score a bundled sample of clinical sentences
# (examples/clinical_sentences.jsonl) with `medenc classify` on a ModernBERT regression model.
# No trained weights can be downloaded here, so the model is made by `medenc init`: its weights are
# RANDOM and its scores mean nothing medically. With a real checkpoint (e.g. the 1-5 relevance model
# TheBlueScrubs/ModernBERT-base-TBS-MedicalRelevance) the same command gives real scores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=out/demo
mkdir -p "$out"
rm -rf "$out/model"
build/medenc init --arch ModernBertForSequenceClassification --config tiny --problem-type regression \
  --num-labels 1 --seed 1 --tokenizer tests/data/tokenizers/modernbert-base --out "$out/model"
build/medenc classify --model "$out/model" examples/clinical_sentences.jsonl --out "$out/scores.jsonl"
cat "$out/scores.jsonl"
echo "wrote $out/scores.jsonl: one score per sentence, in input order." >&2
echo "These scores come from RANDOM weights (medenc init): they are NOT medical scores." >&2
