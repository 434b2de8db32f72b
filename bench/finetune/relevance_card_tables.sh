#!/usr/bin/env bash
# Prints the evaluation tables of models/medical-relevance/README.md (Markdown, relevance_eval.py):
#   held-out documents (eval.jsonl of relevance_data.py --recipe scratch, rebuilt from $SHARED/data when
#   $WORK/data/eval.jsonl is not there) and set 1 (relevance_unseen.jsonl): per source, by length, and the
#   texts lowercased without punctuation; set 2 (relevance_unseen2.jsonl) and any further judge sets given
#   as arguments: overall, by length and lowercased only (their texts and groups stay unseen).
# Usage: bench/finetune/relevance_card_tables.sh [JUDGE_SET.jsonl ...]   (MODEL, WORK, SHARED, MEDENC as in train.sh)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${WORK:-/tmp/medenc-relevance}
MODEL=${MODEL:-$ROOT/models/medical-relevance}
MEDENC=${MEDENC:-$ROOT/build/medenc}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
if [ ! -f "$WORK/data/eval.jsonl" ]; then
  /usr/bin/python3 "$HERE/relevance_data.py" --shared "$SHARED/data" --out "$WORK/data" --recipe scratch >&2
fi
eval_py=(/usr/bin/python3 "$HERE/relevance_eval.py" --model "$MODEL" --medenc "$MEDENC" --threads 2 --variants)
"${eval_py[@]}" --no-texts --out "$WORK/card_report.json" "$WORK/data/eval.jsonl" "$HERE/relevance_unseen.jsonl"
"${eval_py[@]}" --overall-only --out "$WORK/card_report_judges.json" "$HERE/relevance_unseen2.jsonl" "$@"
