#!/usr/bin/env bash
# Fingerprints every file the recipe writes, so a refactoring can show that it changed no output byte:
#   bash scripts/byte_identity.sh OUT > before.txt      (with the old binaries)
#   bash scripts/byte_identity.sh OUT2 > after.txt      (with the new ones)
#   diff before.txt after.txt                           (no output: the same bytes)
# It runs the data pipeline (scripts/make_data.sh at a small vocabulary), the retrieval index, then three short
# training stages (pre-train, CPT, IT) with a checkpoint each, and prints "sha256  path" for every file under
# OUT, relative to OUT, sorted. Left out: metrics/log files, which hold wall-clock times; in the runs' JSON files
# (run.json, state.json) the "date" and "git_commit" lines are dropped and the OUT path replaced by "OUT" before hashing.
# Takes a few minutes on 2 cores. Environment: VOCAB (default 1024), STEPS (default 6), BEOP_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:?usage: scripts/byte_identity.sh OUT_DIR}")
VOCAB=${VOCAB:-1024}
STEPS=${STEPS:-6}
rm -rf "$OUT"
mkdir -p "$OUT"
OUT="$OUT/data" VOCAB="$VOCAB" SEQ_LEN=128 THREADS=1 bash scripts/make_data.sh > "$OUT/make_data.log" 2>&1
./prep index --out "$OUT/data/statutes.idx" > /dev/null
D=$OUT/data
common=(--threads 1 --force --log-every 1 --eval-every 3 --val-batches 2 --save-every 3 --batch 4 --seq 64
        --steps "$STEPS")
./train --preset tiny --tokenizer "$D/tokenizer.json" --data "general=$D/general_train_*.bin" \
  --val "legal=$D/legal_val_*.bin" --out "$OUT/runs/base" "${common[@]}" > /dev/null
./train --stage cpt --init "$OUT/runs/base" \
  --data "legal=$D/legal_train_*.bin:0.7,general=$D/general_train_*.bin:0.3" --val "legal=$D/legal_val_*.bin" \
  --out "$OUT/runs/cpt" "${common[@]}" > /dev/null
./train --stage it --init "$OUT/runs/cpt" \
  --data "it_legal=$D/it_legal_qa_ref_in_train_*.bin:0.7,it_general=$D/it_general_train_*.bin:0.3" \
  --val "it_legal=$D/it_legal_qa_ref_in_val_*.bin" --out "$OUT/runs/it" "${common[@]}" > /dev/null
cd "$OUT"
find . -type f ! -name '*.log' ! -name 'metrics*' | LC_ALL=C sort | while read -r f; do
  case "$f" in
    ./runs/*.json) echo "$(sed -e "s#$OUT#OUT#g" -e '/"date":/d' -e '/"git_commit":/d' "$f" | sha256sum | cut -d' ' -f1)  $f" ;;
    *) sha256sum "$f" ;;
  esac
done
