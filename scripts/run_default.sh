#!/usr/bin/env bash
# Sets up .venv and runs the embedded default: warm-up + GRPO of a tiny policy on a synthetic
# arithmetic task, on CPU. Extra arguments go to scripts/train.py (e.g. --config.rl.pos_weight_schedule=...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python scripts/train.py --workdir "${WORKDIR:-workdirs/default}" "$@"
