#!/usr/bin/env bash
# For the fault tests (tests/test_data_parallel.cpp, tests/test_dp_two_hosts.cpp): starts a training job, waits
# for its third logged step, SIGKILLs one of the job's processes (a rank, found by its MPI rank, or the OpenMPI
# daemon of a second host) and reports how the job ended, as its last line:
#   rc=R took=MS left=N     R: the job's exit status; MS: milliseconds from the kill to the job's end; N: the job's
#                           train processes still alive 15 s later (none may be: an orphaned rank spins for ever)
# Only the job's own processes (descendants of CMD, which include a second host's daemon through the launcher
# agent) are looked at or killed; never another job's.
#   tests/kill_rank.sh rank:N|orted RUN_DIR LOG CMD...      (RUN_DIR must not hold an earlier run's metrics)
set -u
what="$1" run="$2" log="$3"
shift 3
"$@" > "$log" 2>&1 &
job=$!
descendants() {
  local p
  for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done
}
for _ in $(seq 600); do  # up to 60 s
  [ "$(cat "$run/metrics.jsonl" 2>/dev/null | grep -c '"type":"train"')" -ge 3 ] && break
  sleep 0.1
done
victim= trains=
for p in $(descendants "$job"); do
  comm=$(cat "/proc/$p/comm" 2>/dev/null)
  [ "$comm" = train ] && trains="$trains $p"
  case "$what" in
    orted) [ "$comm" = orted ] && victim=$p ;;
    rank:*) [ "$comm" = train ] && tr '\0' '\n' < "/proc/$p/environ" | grep -qx "OMPI_COMM_WORLD_RANK=${what#rank:}" &&
              victim=$p ;;
  esac
done
[ -n "$victim" ] || { echo "kill_rank: no $what in the job"; kill "$job"; wait "$job"; exit 1; }
kill -9 "$victim"
t0=$(date +%s%N)
wait "$job"
rc=$?
took=$(( ($(date +%s%N) - t0) / 1000000 ))
for _ in $(seq 150); do
  left=0
  for p in $trains; do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = train ] && left=$((left + 1)); done
  [ "$left" -eq 0 ] && break
  sleep 0.1
done
echo "rc=$rc took=${took} left=$left"
