#!/usr/bin/env bash
# Builds llama.cpp for bench_infer_dtype's comparison, outside git: the source comes from PyPI's source package of
# llama-cpp-python (its vendor/llama.cpp), fetched with pip's ordinary client, unpacked and built under build/llama/
# (ignored). Only llama-bench, llama-cli and llama-simple; -DGGML_NATIVE=ON (this CPU's AVX-512 BF16/VNNI).
# Takes a long time on 2 shared cores: run it in the background. Usage: bash bench/llama_cpp_build.sh [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-2}
mkdir -p build/llama
cd build/llama
if ! ls llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
  # --no-binary for this package only: its build dependencies may come as wheels (metadata needs them)
  ../../.venv/bin/python -m pip download --no-deps --no-binary llama-cpp-python llama-cpp-python -d .
fi
sdist=$(ls llama_cpp_python-*.tar.gz | sort -V | tail -1)
src=${sdist%.tar.gz}
[ -d "$src" ] || tar xzf "$sdist"
cd "$src/vendor/llama.cpp"
nice cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_SERVER=OFF >/dev/null
# llama-cli and llama-simple where this llama.cpp still has them (0.3.36's vendored tree has no llama-cli target
# and stopped the whole build); libllama.so, all the benches need, comes with llama-bench.
targets=llama-bench
available=$(cmake --build build --target help | sed -n 's/^\.\.\. \([A-Za-z0-9_-]*\).*/\1/p')
for t in llama-cli llama-simple; do grep -qx "$t" <<<"$available" && targets="$targets $t"; done
nice cmake --build build -j"$jobs" --target $targets
echo "llama.cpp built: $(pwd)/build/bin"
