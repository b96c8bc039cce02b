r"""Train a policy with GRPO (and optional warm-up) as the config says.

  python scripts/train.py --workdir DIR [--config configs/<exp>.py[:arg]] [--config.a.b=value ...]

Without --config the embedded default (configs/default.py) runs. Rerunning with the same
--workdir resumes from its latest checkpoint. The command line is jax_rlvr/cli/train.py's.
"""

import os

from absl import app, flags

from jax_rlvr.cli import train

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "default.py")
flags.adopt_module_key_flags(train)
flags.FLAGS.set_default("config", _DEFAULT_CONFIG)

if __name__ == "__main__":
  app.run(train.main)
