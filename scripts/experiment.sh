#!/usr/bin/env bash
# make experiment: the LegalMiDM ablations at CPU scale, from ONE pre-trained base (docs/EXPERIMENTS.md):
#   starting point of IT:  PLM > IT (no CPT)  vs  PLM > SFT > IT (a short general-chat SFT first)  vs  PLM > CPT > IT
#   CPT   legal-only  vs  legal + general (0.7/0.3)                        (both then get the same default IT)
#   IT    legal-only  vs  legal + general (0.7/0.3)                        (from the legal + general CPT)
#   law-QA layout in IT:  Q => A  vs  Q => A + Ref  vs  Q + Ref => A        (from the legal + general CPT)
#   legal-advisor system prompt at inference: on vs off                    (the default model)
#   (extra) statute retrieval at inference (--ref auto): on vs off           (the default model)
# Every stage after pre-training is repeated for each seed in SEEDS (the base is shared: the study has one PLM);
# every IT model is evaluated with `infer eval` (six legal tasks + KorQuAD + general-domain validation loss), the
# default model of the first seed also with --baselines (copy-the-input, lead-N, retrieve-the-article rows).
# scripts/plot_experiment.py writes results.md / results.json / results.png with paired-bootstrap 95% intervals
# for every score and every ablation difference (items resampled, seeds averaged per item).
#
# Environment: QUICK=1 (tiny + few steps + --limit 3, one seed: minutes on 2 cores), THREADS (default 2),
# BEOP_DATA, OVERLONG (split|drop, below), STEPS_BASE/STEPS_CPT/STEPS_SFT/STEPS_IT, LIMIT (items per task, 0 = all), MC_LIMIT (MC items),
# KQ_LIMIT (KorQuAD items: 5,774 in all, so 200 in the full run),
# MAX_NEW (generated tokens), PRESET, RUNS, SEEDS (default "1 2 3"; QUICK: "1"),
# PHASE=all|train|eval (a finished training run, marked RUN/.done, is never retrained: PHASE=eval re-evaluates).
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=${QUICK:-0}
THREADS=${THREADS:-2}
PHASE=${PHASE:-all}
DATA=data/build/experiment
if [ "$QUICK" = 1 ]; then
  PRESET=${PRESET:-tiny}; STEPS_BASE=${STEPS_BASE:-80}; STEPS_CPT=${STEPS_CPT:-40}; STEPS_IT=${STEPS_IT:-40}
  STEPS_SFT=${STEPS_SFT:-20}; LIMIT=${LIMIT:-3}; MC_LIMIT=${MC_LIMIT:-40}; MAX_NEW=${MAX_NEW:-24}; KQ_LIMIT=${KQ_LIMIT:-3}
  RUNS=${RUNS:-runs/experiment_quick}; GV_TOKENS=4096; SEEDS=${SEEDS:-1}
else
  PRESET=${PRESET:-tiny}; STEPS_BASE=${STEPS_BASE:-1500}; STEPS_CPT=${STEPS_CPT:-600}; STEPS_IT=${STEPS_IT:-400}
  STEPS_SFT=${STEPS_SFT:-200}; LIMIT=${LIMIT:-0}; MC_LIMIT=${MC_LIMIT:-0}; MAX_NEW=${MAX_NEW:-96}; KQ_LIMIT=${KQ_LIMIT:-200}
  RUNS=${RUNS:-runs/experiment}; GV_TOKENS=32768; SEEDS=${SEEDS:-1 2 3}
fi
case "$PHASE" in all | train | eval) ;; *) echo "experiment: PHASE must be all, train or eval, not '$PHASE'" >&2; exit 1 ;; esac
t0=$SECONDS
banner() { printf '\n==== [%4ds] %s\n' "$((SECONDS - t0))" "$*"; }
for p in train infer prep; do [ -x "./$p" ] || { echo "experiment: ./$p missing (make $p)" >&2; exit 1; }; done
mkdir -p "$RUNS"

# OVERLONG: chat conversations longer than T. The run docs/EXPERIMENTS.md records split them across blocks
# (prep chat's default), so that is the default here, to reproduce it; OVERLONG=drop is make_data.sh's
# and make demo's recipe. The stamp makes a data folder built under the other setting be rebuilt.
OVERLONG=${OVERLONG:-split}
stamp="vocab=4096 seq=256 overlong=$OVERLONG"
banner "data -> $DATA (scripts/make_data.sh: vocab 4096, T 256, overlong conversations: $OVERLONG)"
if [ "$(cat "$DATA/.complete" 2>/dev/null)" != "$stamp" ]; then
  OUT=$DATA VOCAB=4096 SEQ_LEN=256 THREADS=$THREADS OVERLONG=$OVERLONG bash scripts/make_data.sh | tail -n 3
  echo "$stamp" >"$DATA/.complete"
else
  echo "already built (delete $DATA to rebuild)"
fi

val_text="legal=$DATA/legal_val_*.bin,general=$DATA/general_val_*.bin"
it_val="it_general=$DATA/it_general_val_*.bin,$val_text"
train() {  # train NAME SEED ARGS...: one run (skipped when RUN/.done exists), output summarised
  local name=$1 seed=$2
  shift 2
  if [ -f "$RUNS/$name/.done" ]; then banner "train $name: done before (delete $RUNS/$name to retrain)"; return; fi
  banner "train $name (seed $seed)"
  mkdir -p "$(dirname "$RUNS/$name")"
  ./train "$@" --out "$RUNS/$name" --threads "$THREADS" --seed "$seed" --log-every 20 --force --eval-every 0 \
    --val-batches 8 --quiet >"$RUNS/$name.log" 2>&1 ||
    { tail -n 20 "$RUNS/$name.log" >&2; echo "experiment: training $name failed" >&2; exit 1; }
  touch "$RUNS/$name/.done"
  grep -E '^step .*val' "$RUNS/$name.log" | tail -n 1 || true
}
it() {  # it NAME SEED INIT LAYOUT MIX
  local name=$1 seed=$2 init=$3 layout=$4 mix=$5
  local spec="it_legal=$DATA/it_legal_${layout}_train_*.bin"
  [ "$mix" = mix ] && spec="$spec:0.7,it_general=$DATA/it_general_train_*.bin:0.3"
  train "$name" "$seed" --stage it --init "$RUNS/$init" --data "$spec" \
    --val "it_legal=$DATA/it_legal_${layout}_val_*.bin,$it_val" --batch 8 --seq 256 --steps "$STEPS_IT" --lr 5e-4 --warmup 10
}

if [ "$PHASE" != eval ]; then
  train base 1 --preset "$PRESET" --tokenizer "$DATA/tokenizer.json" --data "general=$DATA/general_train_*.bin" \
    --val "$val_text" --batch 16 --seq 128 --steps "$STEPS_BASE" --lr 2e-3 --warmup 20
  for seed in $SEEDS; do
    s=s$seed
    for c in legal mix; do
      spec="legal=$DATA/legal_train_*.bin"
      [ "$c" = mix ] && spec="legal=$DATA/legal_train_*.bin:0.7,general=$DATA/general_train_*.bin:0.3"
      train "$s/cpt_$c" "$seed" --stage cpt --init "$RUNS/base" --data "$spec" --val "$val_text" \
        --batch 16 --seq 128 --steps "$STEPS_CPT" --lr 1e-3 --warmup 10
    done
    # The SFT'd starting point: a short general-chat instruction tuning of the PLM (the study started IT from an
    # instruction-tuned model as well as from the PLM).
    train "$s/sft_general" "$seed" --stage it --init "$RUNS/base" --data "it_general=$DATA/it_general_train_*.bin" \
      --val "$it_val" --batch 8 --seq 256 --steps "$STEPS_SFT" --lr 5e-4 --warmup 10
    it "$s/it_default" "$seed" "$s/cpt_mix" qa_ref_in mix      # CPT legal+general, IT legal+general, Q + Ref => A (the recipe)
    it "$s/it_cpt_legal" "$seed" "$s/cpt_legal" qa_ref_in mix  # CPT legal only
    it "$s/it_legal_only" "$seed" "$s/cpt_mix" qa_ref_in legal # IT legal only
    it "$s/it_qa" "$seed" "$s/cpt_mix" qa mix                  # layout Q => A
    it "$s/it_qa_ref_out" "$seed" "$s/cpt_mix" qa_ref_out mix  # layout Q => A + Ref
    it "$s/it_plm" "$seed" base qa_ref_in mix                  # PLM > IT: no CPT
    it "$s/it_sft" "$seed" "$s/sft_general" qa_ref_in mix      # PLM > SFT > IT: IT from the SFT'd model
  done
fi
[ "$PHASE" = train ] && { echo "experiment: training finished in $((SECONDS - t0)) s"; exit 0; }

./prep tasks --out "$DATA/tasks" | tail -n 2
# The statute index for `evaluate ... auto` and the retrieve-the-article baseline (an explicit step).
[ -f "$DATA/statutes.idx" ] || ./prep index --out "$DATA/statutes.idx" | tail -n 1
evaluate() {  # evaluate LABEL SEEDDIR RUN SYSTEM [REF] [EXTRA FLAGS...]
  local label=$1 s=$2 run=$3 sys=$4 ref=${5:-none}
  shift 5 2>/dev/null || shift $#
  banner "eval $s/$label ($run, --system $sys --ref $ref $*)"
  ./infer eval --model "$RUNS/$s/$run" --tasks all,korquad --limit "$LIMIT" --mc-limit "$MC_LIMIT" --korquad-limit "$KQ_LIMIT" --max-new-tokens "$MAX_NEW" \
    --system "$sys" --ref "$ref" --index "$DATA/statutes.idx" --task-dir "$DATA/tasks" --threads "$THREADS" --quiet --label "$label" \
    --general-val "$DATA/general_val_*.bin" --general-val-tokens "$GV_TOKENS" --out "$RUNS/$s/eval_$label" "$@" \
    >"$RUNS/$s/eval_$label.log" 2>&1 || { tail -n 20 "$RUNS/$s/eval_$label.log" >&2; exit 1; }
  grep -E '^\| '"$label"' ' "$RUNS/$s/eval_$label/report.md" || true
}
first=1
for seed in $SEEDS; do
  s=s$seed
  if [ "$first" = 1 ]; then evaluate default "$s" it_default legal none --baselines; first=0
  else evaluate default "$s" it_default legal; fi
  evaluate cpt_legal_only "$s" it_cpt_legal legal
  evaluate it_legal_only "$s" it_legal_only legal
  evaluate layout_q_a "$s" it_qa legal
  evaluate layout_q_a_ref "$s" it_qa_ref_out legal
  evaluate plm_it "$s" it_plm legal
  evaluate sft_it "$s" it_sft legal
  evaluate no_system_prompt "$s" it_default none
  evaluate ref_auto "$s" it_default legal auto  # extra: retrieved statutes in QA/Complaint/Petition/MC prompts
done

banner "results -> $RUNS/results.{md,json,png}"
PY=/usr/bin/python3
[ -x .venv/bin/python ] && PY=.venv/bin/python  # the morpheme ROUGE-L column needs the venv's kiwipiepy
"$PY" scripts/plot_experiment.py "$RUNS" --quick "$QUICK" --seeds "$SEEDS" \
  --meta "preset=$PRESET steps base/cpt/sft/it=$STEPS_BASE/$STEPS_CPT/$STEPS_SFT/$STEPS_IT limit=$LIMIT mc_limit=$MC_LIMIT kq_limit=$KQ_LIMIT max_new=$MAX_NEW seeds=$SEEDS threads=$THREADS"
cat "$RUNS/results.md"
echo "experiment finished in $((SECONDS - t0)) s; runs in $RUNS/"
