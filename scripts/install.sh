#!/usr/bin/env bash
# Installs sparring and everything it needs on a fresh Debian machine (run as root).
#   scripts/install.sh          -> the package (CPU torch first, so pip never pulls a CUDA build)
#   scripts/install.sh test     -> also the test extras and the system packages the sandbox tests use
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
else
  $PY -m pip install -q --disable-pip-version-check -e .
fi
