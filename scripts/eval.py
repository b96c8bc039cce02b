r"""Evaluate a run's latest checkpoint: k samples per prompt -> avg@k, pass@k, entropy.

  python scripts/eval.py --workdir DIR [--config.eval.k=16 ...]
  python scripts/eval.py --workdir DIR --config configs/<exp>.py[:arg] [--config.a.b=value ...]

Without --config the run's own DIR/config.json is evaluated, with the --config.* overrides given.
Appends one record to DIR/eval.jsonl and prints it; nothing else in DIR is written. A config whose
model does not match the checkpoint is refused.
"""

import json
import sys

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags


def _flag_value(name: str) -> str | None:
  """The value of --name (as '--name=v' or '--name v') on the command line, before absl parses
  it: which config flag to define depends on it."""
  args = sys.argv[1:]
  for i, arg in enumerate(args):
    if arg.startswith(f"--{name}="):
      return arg.split("=", 1)[1]
    if arg == f"--{name}" and i + 1 < len(args):
      return args[i + 1]
  return None


def _define_config_flag():
  if _flag_value("config") is not None:
    return config_flags.DEFINE_config_file(
      "config", None, "Experiment config file (configs/*.py[:arg]).", lock_config=True
    )
  from jax_rlvr import evaluate

  workdir = _flag_value("workdir")
  config = ml_collections.ConfigDict()  # No --workdir: absl reports the missing flag.
  if workdir:
    try:
      config = evaluate.load_run_config(workdir)
    except FileNotFoundError as e:
      sys.exit(f"Error: {e}")
  return config_flags.DEFINE_config_dict(
    "config", config, "The run's config (DIR/config.json).", lock_config=True
  )


_CONFIG = _define_config_flag()
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
