r"""Evaluate a run's latest checkpoint: k samples per prompt -> avg@k, pass@k, entropy.

  python scripts/eval.py --workdir DIR [--config.eval.k=16 ...]
  python scripts/eval.py --workdir DIR --config configs/<exp>.py[:arg] [--config.a.b=value ...]

Without --config the run's own DIR/config.json is evaluated, with the --config.* overrides given.
Appends one record to DIR/eval.jsonl and prints it; nothing else in DIR is written. A config whose
model does not match the checkpoint is refused.
"""

import json
import sys

from absl import app, flags, logging

from jax_rlvr.jobs import run_config

_CONFIG = run_config.define_config_flag()
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the run to evaluate.")
flags.mark_flag_as_required("workdir")


def main(argv):
  del argv
  # Progress, warnings and the result only: orbax logs every checkpoint file at INFO.
  logging.set_verbosity(logging.WARNING)
  from jax_rlvr import checkpointing, evaluate

  try:
    result = evaluate.evaluate(_CONFIG.value, _WORKDIR.value)
  except checkpointing.CheckpointMismatchError as e:
    sys.exit(f"Error: {e}")
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
