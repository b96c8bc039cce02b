#!/usr/bin/env bash
# Creates .venv (if missing) and installs jax_rlvr into it. Idempotent: reinstalls only when
# setup.py changed. Usage: bash scripts/setup_env.sh [--tests]   (--tests adds dev, hf, math extras)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
extras="math"
[[ "${1:-}" == "--tests" ]] && extras="dev,hf,math"
if [[ ! -x .venv/bin/python ]]; then
  echo "[setup] creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=".venv/.jax_rlvr-${extras//,/-}-$(sha1sum setup.py | cut -c1-12)"
if [[ ! -f "$stamp" ]]; then
  if [[ "$extras" == *hf* ]]; then
    # The CPU build of torch first: otherwise transformers' dependency pulls a multi-GB CUDA build.
    .venv/bin/python -m pip install -q "torch==2.13.0"
  fi
  echo "[setup] installing jax_rlvr[$extras] into .venv (about a minute the first time)"
  .venv/bin/python -m pip install -q -e ".[$extras]"
  touch "$stamp"
fi
