r"""Evaluate a run's latest checkpoint: k samples per prompt -> avg@k, pass@k, entropy.

  python scripts/eval.py --workdir DIR [--config configs/<exp>.py[:arg]] [--config.eval.k=16 ...]

Appends one record to DIR/eval.jsonl and prints it.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "default.py")
_CONFIG = config_flags.DEFINE_config_file(
  "config", _DEFAULT_CONFIG, "Experiment config file (configs/*.py[:arg]).", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the run to evaluate.")
flags.mark_flag_as_required("workdir")


def main(argv):
  del argv
  from jax_rlvr import evaluate

  print(json.dumps(evaluate.evaluate(_CONFIG.value, _WORKDIR.value)))


if __name__ == "__main__":
  app.run(main)
