#!/usr/bin/env bash
# Pre-flight for a multi-node run (docs/DISTRIBUTED.md): every host of an OpenMPI hostfile answers through the
# launcher agent within a bounded time and has this checkout's ./train at the same path. mpirun itself waits for
# ever on an agent that never returns (orte_startup_timeout does not cover it in OpenMPI 4.1) and answers a host
# that refuses with a 20-line help text; this prints one line per bad host and exits 1, or "ok" and exits 0.
#
#   scripts/check_hosts.sh HOSTFILE [AGENT...]    AGENT default: ssh -o BatchMode=yes -o ConnectTimeout=10
#   BEOP_HOST_TIMEOUT=20                           seconds per host, agent included
set -u
[ $# -ge 1 ] || { echo "usage: scripts/check_hosts.sh HOSTFILE [AGENT...]" >&2; exit 2; }
hostfile="$1"
shift
agent=("$@")
[ ${#agent[@]} -gt 0 ] || agent=(ssh -o BatchMode=yes -o ConnectTimeout=10)
limit="${BEOP_HOST_TIMEOUT:-20}"
[ -r "$hostfile" ] || { echo "error: cannot read hostfile $hostfile" >&2; exit 2; }
dir=$(pwd)
bad=0 n=0 line=0
while IFS= read -r l || [ -n "$l" ]; do
  line=$((line + 1))
  l="${l%%#*}"
  set -- $l
  [ $# -gt 0 ] || continue
  host="$1" n=$((n + 1))
  err=$(timeout "$limit" "${agent[@]}" "$host" "cd '$dir' && test -x ./train" 2>&1 </dev/null >/dev/null)  # ssh reads stdin: not the hostfile
  rc=$?
  [ "$rc" -eq 0 ] && continue
  bad=$((bad + 1))
  if [ "$rc" -eq 124 ]; then why="no answer within $limit s (BEOP_HOST_TIMEOUT)"
  elif [ "$rc" -eq 1 ]; then why="no executable $dir/train there (every host needs the same path)"
  else why="unreachable (agent exit $rc): $(printf '%s' "$err" | tr -d '\r' | tail -n 1)"; fi
  echo "error: $hostfile:$line: host $host: $why" >&2
done < "$hostfile"
[ "$n" -gt 0 ] || { echo "error: $hostfile names no host" >&2; exit 1; }
[ "$bad" -eq 0 ] || exit 1
echo "ok: $n host(s) answer and have $dir/train"
