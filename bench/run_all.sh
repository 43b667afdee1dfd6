#!/usr/bin/env bash
# Runs every benchmark binary given on the command line (make bench). Figures are printed, not asserted:
# record them with the machine and command in docs/PERFORMANCE.md.
set -u
cd "$(dirname "$0")/.."
rc=0
for b in "$@"; do
  echo "=== $b"
  "$b" || rc=1
done
exit $rc
