#!/usr/bin/env bash
# Sets up .venv with the test extras and runs the whole test suite (CI runs exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh --tests
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Two worker processes, one per core here: most tests are bound by single-threaded compilation.
# Whole files go to one worker, so a file's module-scoped fixtures are built once.
exec .venv/bin/python -m pytest -q -n 2 --dist loadfile tests "$@"
