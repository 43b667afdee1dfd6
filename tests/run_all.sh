#!/usr/bin/env bash
# Runs every doctest binary given on the command line, then every tests/py/test_*.py script (one test
# case each, judged by exit status), then the GPU check's nvcc build (one test case), then the sanitizer
# build's doctest binaries named in BEOP_SAN_BINS (`make sanitize`, or `make test` with BEOP_SANITIZE=1), then
# the fuzz smoke runs named in BEOP_FUZZ_NAMES (`make test` with BEOP_FUZZ=1), and ends with the one line CI
# reads: "N passed, N failed, N skipped".
# A binary that crashes or prints no doctest summary counts as one failed test case (so does an ASan/UBSan
# report: the sanitizers abort the binary before its summary).
#   tests/run_all.sh BIN...             the full suite (make test)
#   tests/run_all.sh --sanitize-only    only BEOP_SAN_BINS (make sanitize)
set -u
cd "$(dirname "$0")/.."
san_only=0
if [ "${1:-}" = "--sanitize-only" ]; then san_only=1; shift; fi
passed=0; failed=0; skipped=0
failed_names=()
run_doctest() {  # run_doctest BIN: runs one doctest binary, adds its cases to the counts
  local bin="$1" out rc line p f s
  echo "=== $bin"
  out=$("$bin" --no-intro --no-version 2>&1); rc=$?
  echo "$out" | grep -v '^\[doctest\] Status' || true
  line=$(echo "$out" | grep '^\[doctest\] test cases:' | tail -n 1)
  if [ -z "$line" ]; then
    echo "!!! $bin exited $rc without a doctest summary (crash? sanitizer report?)"
    failed=$((failed + 1)); failed_names+=("$bin"); return
  fi
  p=$(echo "$line" | sed -E 's/.*\| *([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/.*\| *([0-9]+) failed.*/\1/')
  s=$(echo "$line" | sed -E 's/.*\| *([0-9]+) skipped.*/\1/')
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
  if [ "$rc" -ne 0 ]; then failed_names+=("$bin"); fi
}
for bin in "$@"; do run_doctest "$bin"; done
if [ "$san_only" -eq 0 ]; then
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
fi
# The sanitizer build (Makefile's `make sanitize` block). ASan: leak checking on (the OpenMP runtime's thread
# pool is reachable from libgomp's globals, so it is not reported as a leak), initialization-order and
# stack-use-after-return checks on. UBSan: stack traces; the binaries are built with -fno-sanitize-recover=all,
# so the first finding aborts. The options are set only for these binaries (children such as the Python
# oracles inherit them and ignore them).
if [ -n "${BEOP_SAN_BINS:-}" ]; then
  for bin in $BEOP_SAN_BINS; do
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
      run_doctest "$bin"
  done
elif [ "$san_only" -eq 1 ]; then
  echo "run_all: --sanitize-only needs BEOP_SAN_BINS (run it through: make sanitize)"; failed=$((failed + 1))
fi
# The fuzz smoke runs (fuzz/fuzz.mk; `make test` with BEOP_FUZZ=1, which .ci/run sets): each harness replays its
# regression inputs, then fuzzes its corpus for BEOP_FUZZ_SECONDS (default 30). One test case per harness.
if [ "$san_only" -eq 0 ] && [ -n "${BEOP_FUZZ_NAMES:-}" ]; then
  for name in $BEOP_FUZZ_NAMES; do
    echo "=== fuzz $name (${BEOP_FUZZ_SECONDS:-30} s)"
    if FUZZ_SECONDS="${BEOP_FUZZ_SECONDS:-30}" bash fuzz/run_fuzz.sh "${BEOP_FUZZ_DIR:-build/fuzz}" "$name"; then
      passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("fuzz $name"); fi
  done
fi
[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]}"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
