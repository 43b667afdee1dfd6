#!/usr/bin/env bash
# Prints the Python of the training bench's own venv with PyTorch 2.x from PyPI, creating it first when missing
# (bench/bench_train.cpp runs this). The venv lives outside the repository: $BEOP_BENCH_VENV, default
# ~/.cache/beop/bench-venv. PyPI's Linux x86_64 torch wheel pulls its CUDA libraries too (several GB); only its
# CPU path is used here. Progress and errors go to stderr; exit status 1 when torch 2.x cannot be had.
set -u
venv="${BEOP_BENCH_VENV:-$HOME/.cache/beop/bench-venv}"
py="$venv/bin/python"
has_torch2() { "$py" -c 'import sys, torch; sys.exit(0 if int(torch.__version__.split(".")[0]) >= 2 else 1)' 2>/dev/null; }
if [ -x "$py" ] && has_torch2; then echo "$py"; exit 0; fi
echo "torch_venv: installing PyTorch 2.x from PyPI into $venv (once; large download)" >&2
python3 -m venv "$venv" >&2 || { echo "torch_venv: python3 -m venv failed" >&2; exit 1; }
"$py" -m pip install -q torch numpy >&2 || { echo "torch_venv: pip install torch failed" >&2; exit 1; }
has_torch2 || { echo "torch_venv: the installed torch is not 2.x" >&2; exit 1; }
echo "$py"
