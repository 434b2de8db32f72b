#!/usr/bin/env bash
# The main job on a fresh machine: set up, make a random-weight ModernBERT regression model
# (no real weights can be downloaded here) and run it on bundled inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=out/demo
mkdir -p "$out"
build/medenc init --arch ModernBertForSequenceClassification --config tiny --problem-type regression \
  --num-labels 1 --seed 1 --out "$out/model"
build/medenc forward --model "$out/model" --inputs examples/forward_inputs.json --out "$out/outputs.safetensors"
echo "wrote $out/outputs.safetensors (RANDOM weights: the numbers are not medical scores)"
