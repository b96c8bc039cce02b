r"""Train a policy with GRPO (and optional warm-up) as the config says.

  python scripts/train.py --workdir DIR [--config configs/<exp>.py[:arg]] [--config.a.b=value ...]

Without --config the embedded default (configs/default.py) runs. Rerunning with the same
--workdir resumes from its latest checkpoint.
"""

import os

from absl import app, flags, logging
from ml_collections import config_flags

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "default.py")
_CONFIG = config_flags.DEFINE_config_file(
  "config", _DEFAULT_CONFIG, "Experiment config file (configs/*.py[:arg]).", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
flags.mark_flag_as_required("workdir")
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address",
  None,
  "host:port of process 0 in a multi-process run (else read from "
  "the TPU / Slurm environment when there is one).",
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in a multi-process run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index, 0-based.")


def main(argv):
  del argv
  from jax_rlvr import distributed, train

  logging.set_verbosity(logging.WARNING)
  distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  summary = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  import jax

  if jax.process_index() == 0:
    print(train.format_summary(summary, _WORKDIR.value))


if __name__ == "__main__":
  app.run(main)
