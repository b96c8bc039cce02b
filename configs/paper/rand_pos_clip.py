"""Rand-Pos-Clip: zero the gradient of a random 2% of the positive-advantage tokens.

Command: python scripts/reproduce.py --figure methods --scale toy|full --outdir DIR (runs the sweep
and draws the figure), or one run: python scripts/train.py --config
configs/paper/rand_pos_clip.py:toy,<run> --workdir DIR. Scales, hardware and wall time:
configs/paper/base.py; toy budget: scripts/reproduce.py.
Expected (paper): entropy slightly above GRPO's.
"""

from configs.paper import base

SWEEP = {"rand_pos_clip": {"rl.method": "rand_pos_clip", "rl.rand_pos_clip_fraction": 0.02}}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
