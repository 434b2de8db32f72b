#!/usr/bin/env bash
# Regenerates src/tokenizer/unicode_tables.cpp: probes every code point with medenc and with Hugging
# Face's library (npm `tokenizers`, installed here by `npm install`) and records where they differ.
# Builds libmedenc.a in BUILD_DIR (default ./build). Run it twice: the second run must
# leave the file unchanged (it then checks that no difference is left).
set -euo pipefail
source "$(dirname "$0")/common.sh"
build_tool unicode_probe.cpp "$tmp/probe"
"$tmp/probe" > "$tmp/ours.jsonl"
node "$here/unicode_probe.js" > "$tmp/hf.jsonl"
python3 "$here/unicode_diff.py" "$tmp/ours.jsonl" "$tmp/hf.jsonl" "$root/src/tokenizer/unicode_tables.cpp"
