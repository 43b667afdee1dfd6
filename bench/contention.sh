#!/usr/bin/env bash
# Decode speed on contended cores (issue 17, item 6): build/bench/bench_infer --decode-only (small and "large"
# dims, random weights, all cores) under OpenMP wait settings, with N busy loops (`yes > /dev/null`) competing and
# without them. Settings alternate within each round; median of ROUNDS (default 3). BEOP_OMP_DEFAULTS is not read
# by the bench (only train/infer re-exec), so each line is exactly the environment shown.
# Usage: bash bench/contention.sh [busy loops, default 2]
set -u
cd "$(dirname "$0")/.."
BIN=build/bench/bench_infer
BUSY=${1:-2}
ROUNDS=${ROUNDS:-3}
SETTINGS=("libgomp default (spin)|" "OMP_WAIT_POLICY=passive|OMP_WAIT_POLICY=passive"
          "GOMP_SPINCOUNT=10000 (train/infer default)|GOMP_SPINCOUNT=10000" "OMP_NUM_THREADS=1|OMP_NUM_THREADS=1")
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run_all() {  # $1: label of the load
  local tmp; tmp=$(mktemp -d)
  for r in $(seq "$ROUNDS"); do
    for i in "${!SETTINGS[@]}"; do
      env_kv=${SETTINGS[$i]#*|}
      out=$(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u OMP_NUM_THREADS $env_kv "$BIN" --decode-only | tail -1)
      echo "$out" | awk '{print $4}' >>"$tmp/small.$i"
      echo "$out" | awk '{print $6}' >>"$tmp/large.$i"
    done
  done
  for i in "${!SETTINGS[@]}"; do
    printf '| %s | %s | %s | %s |\n' "$1" "${SETTINGS[$i]%|*}" "$(median <"$tmp/small.$i")" "$(median <"$tmp/large.$i")"
  done
  rm -rf "$tmp"
}
echo "| load | setting | small decode tok/s | large decode tok/s |"
echo "|---|---|---|---|"
run_all "none added"
pids=()
for _ in $(seq "$BUSY"); do yes >/dev/null & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
run_all "$BUSY busy loops"
