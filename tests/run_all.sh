#!/usr/bin/env bash
# Runs every doctest binary given on the command line, then every tests/py/test_*.py script (one test
# case each, judged by exit status), then the GPU check's nvcc build (one test case), and ends with the one
# line CI reads: "N passed, N failed, N skipped".
# A binary that crashes or prints no doctest summary counts as one failed test case.
set -u
cd "$(dirname "$0")/.."
passed=0; failed=0; skipped=0
failed_names=()
for bin in "$@"; do
  echo "=== $bin"
  out=$("$bin" --no-intro --no-version 2>&1); rc=$?
  echo "$out" | grep -v '^\[doctest\] Status' || true
  line=$(echo "$out" | grep '^\[doctest\] test cases:' | tail -n 1)
  if [ -z "$line" ]; then
    echo "!!! $bin exited $rc without a doctest summary (crash?)"
    failed=$((failed + 1)); failed_names+=("$bin"); continue
  fi
  p=$(echo "$line" | sed -E 's/.*\| *([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/.*\| *([0-9]+) failed.*/\1/')
  s=$(echo "$line" | sed -E 's/.*\| *([0-9]+) skipped.*/\1/')
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
  if [ "$rc" -ne 0 ]; then failed_names+=("$bin"); fi
done
for py in tests/py/test_*.py; do
  [ -e "$py" ] || continue
  echo "=== $py"
  if .venv/bin/python "$py"; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("$py"); fi
done
# The GPU check's build (nvcc: the CUDA test sources and the benchmark), so that a compile error is found here
# and not in a GPU session's few minutes. One test case; skipped where nvcc is absent.
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "=== scripts/gpu_check.sh --build-only"
  if bash scripts/gpu_check.sh --build-only; then passed=$((passed + 1)); else
    failed=$((failed + 1)); failed_names+=("scripts/gpu_check.sh --build-only"); fi
else
  echo "=== scripts/gpu_check.sh --build-only: skipped (no nvcc)"; skipped=$((skipped + 1))
fi
[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]}"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
