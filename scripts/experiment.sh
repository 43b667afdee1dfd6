#!/usr/bin/env bash
# make experiment: the LegalMiDM ablations at CPU scale, from ONE pre-trained base, same seed and token budget per
# stage (docs/EXPERIMENTS.md):
#   CPT   legal-only  vs  legal + general (0.7/0.3)                        (both then get the same default IT)
#   IT    legal-only  vs  legal + general (0.7/0.3)                        (from the legal + general CPT)
#   law-QA layout in IT:  Q => A  vs  Q => A + Ref  vs  Q + Ref => A        (from the legal + general CPT)
#   legal-advisor system prompt at inference: on vs off                    (the default model)
#   (extra) statute retrieval at inference (--ref auto): on vs off           (the default model)
# Every IT model is evaluated with `infer eval` (six legal tasks + KorQuAD + general-domain validation loss); the
# results table (results.md / results.json) and the figure (results.png) come from scripts/plot_experiment.py.
#
# Environment: QUICK=1 (tiny + few steps + --limit 3: < 20 min on 2 cores), THREADS (default 2), BEOP_DATA,
# STEPS_BASE/STEPS_CPT/STEPS_IT, LIMIT (items per task), MC_LIMIT (MC items), MAX_NEW (generated tokens), PRESET, RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=${QUICK:-0}
THREADS=${THREADS:-2}
DATA=data/build/experiment
SEED=1
if [ "$QUICK" = 1 ]; then
  PRESET=${PRESET:-tiny}; STEPS_BASE=${STEPS_BASE:-80}; STEPS_CPT=${STEPS_CPT:-40}; STEPS_IT=${STEPS_IT:-40}
  LIMIT=${LIMIT:-3}; MC_LIMIT=${MC_LIMIT:-40}; MAX_NEW=${MAX_NEW:-24}; RUNS=${RUNS:-runs/experiment_quick}; GV_TOKENS=4096
else
  PRESET=${PRESET:-tiny}; STEPS_BASE=${STEPS_BASE:-1500}; STEPS_CPT=${STEPS_CPT:-600}; STEPS_IT=${STEPS_IT:-400}
  LIMIT=${LIMIT:-40}; MC_LIMIT=${MC_LIMIT:-200}; MAX_NEW=${MAX_NEW:-96}; RUNS=${RUNS:-runs/experiment}; GV_TOKENS=32768
fi
t0=$SECONDS
banner() { printf '\n==== [%4ds] %s\n' "$((SECONDS - t0))" "$*"; }
for p in train infer prep; do [ -x "./$p" ] || { echo "experiment: ./$p missing (make $p)" >&2; exit 1; }; done
mkdir -p "$RUNS"

banner "data -> $DATA (scripts/make_data.sh: vocab 4096, T 256)"
if [ ! -f "$DATA/.complete" ]; then
  OUT=$DATA VOCAB=4096 SEQ_LEN=256 THREADS=$THREADS bash scripts/make_data.sh | tail -n 3
  touch "$DATA/.complete"
else
  echo "already built (delete $DATA to rebuild)"
fi
./prep tasks --out "$DATA/tasks" | tail -n 1
# The statute index for `evaluate ... auto` (infer eval --ref auto needs it: an explicit step, eval builds nothing).
[ -f "$DATA/statutes.idx" ] || ./prep index --out "$DATA/statutes.idx" | tail -n 1

common=(--threads "$THREADS" --seed "$SEED" --log-every 20 --force --eval-every 0 --val-batches 8 --quiet)
val_text="legal=$DATA/legal_val_*.bin,general=$DATA/general_val_*.bin"
it_val="it_general=$DATA/it_general_val_*.bin,$val_text"
train() {  # train NAME ARGS...: one run, output summarised
  local name=$1
  shift
  banner "train $name"
  ./train "$@" --out "$RUNS/$name" "${common[@]}" >"$RUNS/$name.log" 2>&1 ||
    { tail -n 20 "$RUNS/$name.log" >&2; echo "experiment: training $name failed" >&2; exit 1; }
  grep -E '^step .*val' "$RUNS/$name.log" | tail -n 1 || true
}

train base --preset "$PRESET" --tokenizer "$DATA/tokenizer.json" --data "general=$DATA/general_train_*.bin" \
  --val "$val_text" --batch 16 --seq 128 --steps "$STEPS_BASE" --lr 2e-3 --warmup 20
for c in legal mix; do
  spec="legal=$DATA/legal_train_*.bin"
  [ "$c" = mix ] && spec="legal=$DATA/legal_train_*.bin:0.7,general=$DATA/general_train_*.bin:0.3"
  train "cpt_$c" --stage cpt --init "$RUNS/base" --data "$spec" --val "$val_text" \
    --batch 16 --seq 128 --steps "$STEPS_CPT" --lr 1e-3 --warmup 10
done
it() {  # it NAME CPT LAYOUT MIX
  local name=$1 cpt=$2 layout=$3 mix=$4
  local spec="it_legal=$DATA/it_legal_${layout}_train_*.bin"
  [ "$mix" = mix ] && spec="$spec:0.7,it_general=$DATA/it_general_train_*.bin:0.3"
  train "$name" --stage it --init "$RUNS/$cpt" --data "$spec" \
    --val "it_legal=$DATA/it_legal_${layout}_val_*.bin,$it_val" --batch 8 --seq 256 --steps "$STEPS_IT" --lr 5e-4 --warmup 10
}
it it_default cpt_mix qa_ref_in mix      # CPT legal+general, IT legal+general, Q + Ref => A  (the recipe)
it it_cpt_legal cpt_legal qa_ref_in mix  # CPT legal only
it it_legal_only cpt_mix qa_ref_in legal # IT legal only
it it_qa cpt_mix qa mix                  # layout Q => A
it it_qa_ref_out cpt_mix qa_ref_out mix  # layout Q => A + Ref

evaluate() {  # evaluate LABEL RUN SYSTEM [REF]
  local label=$1 run=$2 sys=$3 ref=${4:-none}
  banner "eval $label ($run, --system $sys --ref $ref)"
  ./infer eval --model "$RUNS/$run" --tasks all,korquad --limit "$LIMIT" --mc-limit "$MC_LIMIT" --max-new-tokens "$MAX_NEW" \
    --system "$sys" --ref "$ref" --index "$DATA/statutes.idx" --task-dir "$DATA/tasks" --threads "$THREADS" --quiet --label "$label" \
    --general-val "$DATA/general_val_*.bin" --general-val-tokens "$GV_TOKENS" --out "$RUNS/eval_$label" \
    >"$RUNS/eval_$label.log" 2>&1 || { tail -n 20 "$RUNS/eval_$label.log" >&2; exit 1; }
  grep -E '^\| '"$label"' ' "$RUNS/eval_$label/report.md" || true
}
evaluate default it_default legal
evaluate cpt_legal_only it_cpt_legal legal
evaluate it_legal_only it_legal_only legal
evaluate layout_q_a it_qa legal
evaluate layout_q_a_ref it_qa_ref_out legal
evaluate no_system_prompt it_default none
evaluate ref_auto it_default legal auto  # extra: retrieved statutes in QA/Complaint/Petition/MC prompts

banner "results -> $RUNS/results.{md,json,png}"
/usr/bin/python3 scripts/plot_experiment.py "$RUNS" --quick "$QUICK" \
  --meta "preset=$PRESET steps base/cpt/it=$STEPS_BASE/$STEPS_CPT/$STEPS_IT limit=$LIMIT mc_limit=$MC_LIMIT max_new=$MAX_NEW seed=$SEED threads=$THREADS"
cat "$RUNS/results.md"
echo "experiment finished in $((SECONDS - t0)) s; runs in $RUNS/"
