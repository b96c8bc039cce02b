"""Fixed entropy bonus α ∈ {0.001, 0.002, -0.001} added to the GRPO objective.

Command: python scripts/reproduce.py --figure methods --scale toy|full --outdir DIR (runs the sweep
and draws the figure), or one run: python scripts/train.py --config
configs/paper/entropy_bonus.py:toy,<run> --workdir DIR. Scales, hardware and wall time:
configs/paper/base.py; toy budget: scripts/reproduce.py.
Expected (paper): entropy rises with α; a negative α speeds the collapse.
"""

from configs.paper import base

SWEEP = {
  f"ent_bonus_{alpha}": {"rl.method": "entropy_bonus", "rl.entropy_coef": alpha}
  for alpha in (0.001, 0.002, -0.001)
}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
