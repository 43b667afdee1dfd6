#!/bin/bash
# The before/after of issue 17.2's fp32 CPU work in one alternating run (docs/PERFORMANCE.md): each round runs
#   1. build/bench/bench_train --attention both: beop with the GEMM attention and with the flash attention, both
#      with cpu/vexp.h's vectorized exp, then PyTorch 2.x eager (bench/torch_train_bench.py);
#   2. the same bench built with -DBEOP_LIBM_EXP (glibc's expf in the kernels: the exp before this work), beop only.
# Threads from OMP_NUM_THREADS; extra bench_train flags (e.g. --cpu-time) as arguments. Medians: by hand from the
# "round" figures, or read the per-round lines. Usage: OMP_NUM_THREADS=1 bash bench/train_exp_ab.sh --cpu-time
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/bench/bench_train
work=build/bench/libm_exp
mkdir -p "$work"
flags="-O3 -march=native -mprefer-vector-width=512 -std=c++17 -fopenmp -I. -isystem /usr/include/eigen3 -DBEOP_LIBM_EXP"
# bench_train and the CPU model compiled with glibc's exp; the rest of the library as built (its templates
# instantiated in these two objects come first on the link line, so the libm versions are the ones linked)
g++ $flags -c bench/bench_train.cpp -o "$work/bench_train.o"
g++ $flags -c cpu/model_cpu.cpp -o "$work/model_cpu.o"
g++ -fopenmp "$work/bench_train.o" "$work/model_cpu.o" build/libbeop.a -o "$work/bench_train" -lpthread -lcurl \
  $(pkg-config --libs cpp-httplib 2>/dev/null || echo -lcpp-httplib)
for r in 1 2 3; do
  echo "=== round $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  build/bench/bench_train --dtype fp32 --attention both --steps 3 --rounds 1 "$@" |
    grep -E "ceiling|^beop|^pytorch|/ pytorch"
  echo "--- the same, glibc expf (-DBEOP_LIBM_EXP)"
  "$work/bench_train" --no-torch --dtype fp32 --attention both --steps 3 --rounds 1 "$@" | grep -E "ceiling|^beop"
done
echo "=== end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
