#!/usr/bin/env bash
# Runs libFuzzer harnesses one after another (the CPU is shared: one job at a time), for `make fuzz`.
#   fuzz/run_fuzz.sh BUILD_FUZZ_DIR NAME...
# For each NAME: writes the harness's seed corpus into BUILD_FUZZ_DIR/corpus/NAME (BEOP_FUZZ_WRITE_SEEDS),
# replays tests/fuzz_regressions/NAME/* (inputs that once crashed), then fuzzes for FUZZ_SECONDS with
# -rss_limit_mb/-malloc_limit_mb FUZZ_RSS_MB and -timeout FUZZ_TIMEOUT, keeping new inputs in the corpus.
# A crash, leak, timeout or out-of-memory leaves its input under BUILD_FUZZ_DIR/artifacts/NAME/ and makes the
# script exit 1 (after running the rest). Prints per harness: executions, exec/s, coverage (cov, ft), corpus.
set -u
dir=$1
shift
secs=${FUZZ_SECONDS:-30}
rss=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}
status=0
summary=()
total=0
for name in "$@"; do
  bin=$dir/fuzz_$name
  corpus=$dir/corpus/$name
  art=$dir/artifacts/$name
  log=$dir/logs/$name.log
  mkdir -p "$corpus" "$art" "$dir/logs"
  if ! BEOP_FUZZ_WRITE_SEEDS=$corpus "$bin" > "$log" 2>&1; then
    echo "fuzz $name: writing the seed corpus failed:"; tail -n 20 "$log"; status=1; continue
  fi
  regs=()
  [ -d "tests/fuzz_regressions/$name" ] && while IFS= read -r f; do regs+=("$f"); done \
    < <(find "tests/fuzz_regressions/$name" -type f | sort)
  if [ ${#regs[@]} -gt 0 ] && ! "$bin" -rss_limit_mb="$rss" -malloc_limit_mb="$rss" -timeout="$timeout" \
      "${regs[@]}" > "$log" 2>&1; then
    echo "fuzz $name: a regression input crashes again:"; tail -n 30 "$log"; status=1
    summary+=("$(printf '%-20s REGRESSION' "$name")"); continue
  fi
  echo "fuzz $name: ${secs}s, corpus $corpus ($(find "$corpus" -type f | wc -l) inputs), ${#regs[@]} regression inputs replayed"
  "$bin" -max_total_time="$secs" -rss_limit_mb="$rss" -malloc_limit_mb="$rss" -timeout="$timeout" \
    -artifact_prefix="$art/" -print_final_stats=1 -close_fd_mask=1 ${FUZZ_FLAGS:-} "$corpus" > "$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
  ncorp=$(find "$corpus" -type f | wc -l)
  total=$((total + ${execs:-0}))
  if [ $rc -ne 0 ]; then
    status=1
    echo "fuzz $name: FAILED (exit $rc); input kept in $art/:"
    grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==|Test unit written|terminate' "$log" | head -n 20
    summary+=("$(printf '%-20s FAILED  execs %-10s exec/s %-7s %s  (log %s)' "$name" "${execs:-?}" "${eps:-?}" "$cov" "$log")")
  else
    summary+=("$(printf '%-20s ok      execs %-10s exec/s %-7s %s  corpus %s' "$name" "$execs" "$eps" "$cov" "$ncorp")")
  fi
done
echo "=== fuzz summary (${secs}s each)"
printf '%s\n' "${summary[@]}"
echo "total executions: $total"
exit $status
