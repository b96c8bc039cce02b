#!/usr/bin/env bash
# Copies the committed tree of this checkout to every worker of a Cloud TPU VM and installs it
# there into REMOTE_DIR/.venv with the `tpu` and `math` extras (Python 3.11 via uv, since TPU VM
# images ship an older Python). Not run on real hardware; see scripts/tpu/README.md.
#
#   bash scripts/tpu/setup_venv.sh TPU_NAME ZONE PROJECT [REMOTE_DIR]   (default REMOTE_DIR: jax_rlvr)
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 TPU_NAME ZONE PROJECT [REMOTE_DIR]" >&2
  exit 2
fi
name=$1 zone=$2 project=$3 remote_dir=${4:-jax_rlvr}
cd "$(dirname "$0")/../.."

tarball=$(mktemp --suffix=.tar.gz)
trap 'rm -f "$tarball"' EXIT
git archive --format=tar.gz -o "$tarball" HEAD  # committed files only
tpu=(gcloud compute tpus tpu-vm --zone="$zone" --project="$project")
"${tpu[@]}" scp "$tarball" "$name:jax_rlvr.tar.gz" --worker=all

"${tpu[@]}" ssh "$name" --worker=all --command="
set -euo pipefail
mkdir -p $(printf '%q' "$remote_dir") && cd $(printf '%q' "$remote_dir")
tar -xzf ~/jax_rlvr.tar.gz
command -v uv >/dev/null || curl -LsSf https://astral.sh/uv/install.sh | sh
export PATH=\$HOME/.local/bin:\$PATH
uv venv --allow-existing --python 3.11 .venv
uv pip install --python .venv/bin/python -e '.[tpu,math]'
.venv/bin/python -c 'import jax; print(jax.process_index(), jax.local_device_count(), jax.device_count())'
"
