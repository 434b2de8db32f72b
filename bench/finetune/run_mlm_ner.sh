#!/usr/bin/env bash
# MedMentions NER fine-tuned from the masked-LM checkpoint of run_mlm.sh (its encoder kept, only the
# classifier new), with the same settings as run_medmentions.sh: does a little pre-training help?
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/medenc-finetune}
[ -f "$WORK/mlm/model/config.json" ] || bash "$HERE/run_mlm.sh"
FROM=$WORK/mlm/model OUT_NAME=mlm_ner WORK=$WORK exec bash "$HERE/run_medmentions.sh"
