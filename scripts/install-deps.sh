#!/usr/bin/env bash
# Installs everything beop needs to build and test, from Debian's packages (and PyPI for test oracles,
# into .venv/ inside the repo). Idempotent: packages already present are skipped, so `make` can call it
# on every build at the cost of a few dpkg queries.
#   scripts/install-deps.sh          system packages + .venv
#   scripts/install-deps.sh --check  exit 1 if anything is missing (installs nothing)
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  g++ make pkg-config
  libeigen3-dev doctest-dev nlohmann-json3-dev libcpp-httplib-dev
  libopenmpi-dev openmpi-bin  # data-parallel ./train (cli/comm_mpi.cpp) and mpirun for test_data_parallel
  python3 python3-venv python3-torch python3-numpy python3-matplotlib
  libopenblas0-pthread  # a real BLAS for the PyTorch oracle and baseline (Debian torch otherwise uses reference BLAS)
  clang-14 libclang-rt-14-dev libomp-14-dev  # `make fuzz`: clang++-14, libclang_rt.fuzzer/asan/ubsan, clang's OpenMP
  curl  # test_infer_cli calls ./infer serve with it; a bare Debian has none (scripts/fresh_machine_check.sh)
  libcurl4-openssl-dev openssl  # law-QA endpoint client (https to a real teacher); openssl makes the tests' self-signed cert
  iproute2  # `ip netns`: the two-host data-parallel test runs ranks in two network namespaces
)
# PyPI test oracles (issue tests name them): HF tokenizers, Google's rouge-score, safetensors, openai client, gguf;
# kiwipiepy (Korean morphological analyser, ships its model): the morpheme ROUGE-L column of make experiment.
PIP_PACKAGES=(tokenizers rouge-score safetensors openai gguf kiwipiepy)

missing_debs() {
  local m=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || m+=("$p")
  done
  echo "${m[@]:-}"
}

# The marker holds the package list it was made with, so adding a package to PIP_PACKAGES re-runs pip on an
# existing .venv instead of leaving it without the new oracle.
PIP_STAMP="${PIP_PACKAGES[*]}"
venv_ok() {
  [ -x .venv/bin/python ] && [ "$(cat .venv/.beop-deps-ok 2>/dev/null)" = "$PIP_STAMP" ] && [ -f .venv-hf/.beop-deps-ok ]
}

if [ "${1:-}" = "--check" ]; then
  [ -z "$(missing_debs)" ] && venv_ok && exit 0
  exit 1
fi

need=$(missing_debs)
if [ -n "$need" ]; then
  echo "install-deps: installing Debian packages: $need"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

if ! [ -x .venv/bin/python ] || [ "$(cat .venv/.beop-deps-ok 2>/dev/null)" != "$PIP_STAMP" ]; then
  echo "install-deps: creating/updating .venv (system site packages, so Debian's torch is visible) with ${PIP_PACKAGES[*]}"
  [ -x .venv/bin/python ] || /usr/bin/python3 -m venv --system-site-packages .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
  echo "$PIP_STAMP" > .venv/.beop-deps-ok
fi
# The Hugging Face interop oracle needs `transformers`. The newest releases need torch >= 2.6 (Debian has 1.13)
# and 4.x pins older `tokenizers` than .venv's oracle uses, so it lives in its own venv: 4.45.2 is the newest
# that runs on torch 1.13 and knows Llama 3 rope scaling.
if ! [ -f .venv-hf/.beop-deps-ok ]; then
  echo "install-deps: creating .venv-hf with transformers 4.45.2 (Hugging Face interop oracle)"
  /usr/bin/python3 -m venv --system-site-packages .venv-hf
  .venv-hf/bin/python -m pip install -q --disable-pip-version-check transformers==4.45.2 'numpy<2' 'jinja2>=3.1'
  touch .venv-hf/.beop-deps-ok
fi
