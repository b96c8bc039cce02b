"""Entropy-Adv (Cheng et al. 2025): Â' = Â + min(α·sg(H_t), |Â|/κ), α = 0.4, κ = 2.

Command: python scripts/reproduce.py --figure methods --scale toy|full --outdir DIR (runs the sweep
and draws the figure), or one run: python scripts/train.py --config
configs/paper/entropy_adv.py:toy,<run> --workdir DIR. Scales, hardware and wall time:
configs/paper/base.py; toy budget: scripts/reproduce.py.
Expected (paper): entropy above GRPO's.
"""

from configs.paper import base

SWEEP = {"entropy_adv": {"rl.method": "entropy_adv"}}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
