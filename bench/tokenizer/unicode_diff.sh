#!/usr/bin/env bash
# Regenerates src/tokenizer/unicode_tables.cpp: probes every code point with medenc and with Hugging
# Face's library (npm `tokenizers`, installed here by `npm install`) and records where they differ.
# Needs a built build dir (default build-tok) for libmedenc.a. Run it twice: the second run must
# leave the file unchanged (it then checks that no difference is left).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build-tok}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
[ -d "$here/node_modules/tokenizers" ] || (cd "$here" && npm install --no-audit --no-fund tokenizers >/dev/null)
cmake --build "$build" --target medenc_lib -j"$(nproc)" > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
g++ -std=c++20 -O2 -fopenmp -I"$root/include" -I"$root/src" "$here/unicode_probe.cpp" "$build/libmedenc.a" \
  $(pkg-config --libs libutf8proc oniguruma zlib) -lfmt -o "$tmp/probe"
"$tmp/probe" > "$tmp/ours.jsonl"
node "$here/unicode_probe.js" > "$tmp/hf.jsonl"
python3 "$here/unicode_diff.py" "$tmp/ours.jsonl" "$tmp/hf.jsonl" "$root/src/tokenizer/unicode_tables.cpp"
