#!/usr/bin/env bash
# Builds every training input from the bundled corpora into data/build/ (docs/DATA.md, "make_data.sh"):
#   articles.jsonl                      parsed statutes                         (prep statutes)
#   lawqa_{qa,qa_ref_out,qa_ref_in}.jsonl  template law QA, three layouts          (prep lawqa)
#   legal_cpt.jsonl general_cpt.jsonl it_*.jsonl  corpora, evaluation data removed  (prep corpora)
#   tokenizer.json                      byte-level BPE, vocab $VOCAB            (prep tokenizer)
#   legal_{train,val}_*.bin general_{train,val}_*.bin   CPT token shards         (prep shards)
#   it_legal_<format>_{train,val}_*.bin it_general_{train,val}_*.bin  masked chat shards (prep chat)
# and prints a summary table. Deterministic: the same inputs and SEED give byte-identical outputs.
#
# Environment (all optional):
#   BEOP_DATA      corpora root (default ../shared/data)
#   OUT            output folder (default data/build)
#   SEED           generator and split seed (default 1)
#   VOCAB          tokenizer vocabulary (default 8192)
#   SEQ_LEN        chat block size T (default 512)
#   VAL_FRACTION   held-out validation fraction of CPT documents and conversations (default 0.02)
#   HELDOUT_LAWS   comma-separated statutes kept out of law QA, for retrieval evaluation (default none)
#   THREADS        encoding/training threads (default 2)
#   OVERLONG       chat conversations longer than SEQ_LEN: drop (default) or split (prep chat --overlong; a split
#                  piece trains an answer whose question and reference are out of the model's view)
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${BEOP_DATA:-../shared/data}
OUT=${OUT:-data/build}
SEED=${SEED:-1}
VOCAB=${VOCAB:-8192}
SEQ_LEN=${SEQ_LEN:-512}
VAL_FRACTION=${VAL_FRACTION:-0.02}
HELDOUT_LAWS=${HELDOUT_LAWS:-}
THREADS=${THREADS:-2}
OVERLONG=${OVERLONG:-drop}

[ -x ./prep ] || make prep
mkdir -p "$OUT"
LOG="$OUT/make_data.log"
: >"$LOG"
step() {  # step NAME CMD...: run, keep stdout in the log, stop with the command's error on failure
  local name=$1
  shift
  echo "== $name: $*" | tee -a "$LOG"
  local t0=$SECONDS
  if ! "$@" >>"$LOG" 2>"$OUT/.stderr"; then
    cat "$OUT/.stderr" >&2
    echo "make_data: step '$name' failed (full output in $LOG)" >&2
    exit 1
  fi
  cat "$OUT/.stderr" >>"$LOG"
  echo "   done in $((SECONDS - t0)) s" | tee -a "$LOG"
}

step statutes ./prep statutes --out "$OUT/articles.jsonl" --data "$DATA"
LAWQA_FLAGS=()
[ -n "$HELDOUT_LAWS" ] && LAWQA_FLAGS=(--exclude-laws "$HELDOUT_LAWS")
step lawqa ./prep lawqa --out-prefix "$OUT/lawqa" --format all --seed "$SEED" --data "$DATA" "${LAWQA_FLAGS[@]}"
step corpora ./prep corpora --out "$OUT" --data "$DATA"
step tokenizer ./prep tokenizer --vocab "$VOCAB" --threads "$THREADS" --quiet --out "$OUT/tokenizer.json" \
  "$OUT/legal_cpt.jsonl" "$OUT/general_cpt.jsonl"
for c in legal general; do
  step "shards $c" ./prep shards --tokenizer "$OUT/tokenizer.json" --out-prefix "$OUT/$c" --seed "$SEED" \
    --val-fraction "$VAL_FRACTION" --threads "$THREADS" --quiet "$OUT/${c}_cpt.jsonl"
done
# prep chat assigns train/val by (seed, file NAME, line): the three layouts are read through links with one
# name (OUT/lawqa_<format>/lawqa.jsonl), so every format holds out exactly the same questions.
for f in qa qa_ref_out qa_ref_in; do
  mkdir -p "$OUT/lawqa_$f"
  ln -sfn "../lawqa_$f.jsonl" "$OUT/lawqa_$f/lawqa.jsonl"
  step "chat it_legal_$f" ./prep chat --tokenizer "$OUT/tokenizer.json" --seq-len "$SEQ_LEN" --seed "$SEED" --overlong "$OVERLONG" \
    --val-fraction "$VAL_FRACTION" --out-prefix "$OUT/it_legal_$f" \
    "$OUT/lawqa_$f/lawqa.jsonl" "$OUT/it_legal_precedents.jsonl" "$OUT/it_legal_easylaw.jsonl"
done
step "chat it_general" ./prep chat --tokenizer "$OUT/tokenizer.json" --seq-len "$SEQ_LEN" --seed "$SEED" --overlong "$OVERLONG" \
  --val-fraction "$VAL_FRACTION" --out-prefix "$OUT/it_general" "$OUT/it_general_chatbot.jsonl"
rm -f "$OUT/.stderr"

# ---------------------------------------------------------------------------------------------- summary
echo
echo "summary ($OUT, seed $SEED, vocab $VOCAB, T $SEQ_LEN; full log $LOG)"
echo "-- sources (prep corpora: documents / conversations, characters, dropped for evaluation overlap)"
sed -n '/^  file\/source/,/^[^ ]/p' "$LOG" | grep '^  ' || true
echo "-- law QA (prep lawqa)"
grep -E '^(prep lawqa:|fact check:|question style:)' "$LOG" | sed 's/^/  /'
echo "-- token shards"
printf '  %-22s %s\n' "prefix" "counts"
awk -v out="$OUT" '
  /^== shards / { name = $3; sub(/:$/, "", name) }
  /^== chat /   { name = $3; sub(/:$/, "", name) }
  /^total: /    { sub(/^total: /, ""); printf "  %-22s %s\n", name " (CPT)", $0 }
  /^train: /    { sub(/^train: /, ""); printf "  %-22s train %s\n", name, $0 }
  /^val: /      { sub(/^val: /, ""); printf "  %-22s val   %s\n", name, $0 }
' "$LOG"
