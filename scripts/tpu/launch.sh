#!/usr/bin/env bash
# Starts scripts/train.py on every worker of a Cloud TPU VM, in the background, logging to
# ~/logs/RUN.log on each worker (RUN = the workdir's last component). JAX finds the other workers
# itself (jax_rlvr.distributed). Not run on real hardware; see scripts/tpu/README.md.
#
#   bash scripts/tpu/launch.sh TPU_NAME ZONE PROJECT CONFIG WORKDIR [train.py flags ...]
#   e.g. bash scripts/tpu/launch.sh my-v5p us-east5-a my-proj configs/qwen25_math_7b.py:v5p-64 \
#          /mnt/runs/grpo_7b --config.rl.pos_weight_schedule=entropy_guided
#
# WORKDIR must be one directory all workers share (NFS / Filestore, or a bucket mounted at the
# same path with gcsfuse): checkpoints, metrics.jsonl and eval.jsonl are written there. Set
# REMOTE_DIR if setup_venv.sh installed elsewhere than ~/jax_rlvr.
set -euo pipefail
if [[ $# -lt 5 ]]; then
  echo "usage: $0 TPU_NAME ZONE PROJECT CONFIG WORKDIR [train.py flags ...]" >&2
  exit 2
fi
name=$1 zone=$2 project=$3 config=$4 workdir=$5
shift 5
if [[ "$workdir" == gs://* ]]; then
  echo "WORKDIR must be a mounted path (e.g. gcsfuse BUCKET /mnt/runs), not $workdir." >&2
  exit 2
fi
remote_dir=${REMOTE_DIR:-jax_rlvr}
run=$(basename "$workdir")
train_cmd=$(printf '%q ' .venv/bin/python scripts/train.py --config="$config" --workdir="$workdir" "$@")

gcloud compute tpus tpu-vm ssh "$name" --zone="$zone" --project="$project" --worker=all --command="
set -euo pipefail
cd $(printf '%q' "$remote_dir") && mkdir -p ~/logs
PYTHONUNBUFFERED=1 nohup $train_cmd > ~/logs/$(printf '%q' "$run").log 2>&1 < /dev/null &
echo \"\$(hostname): started pid \$!\"
"
echo "Follow worker 0: gcloud compute tpus tpu-vm ssh $name --zone=$zone --project=$project" \
  "--worker=0 --command='tail -f ~/logs/$run.log'"
