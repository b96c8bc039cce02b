"""Training on one advantage sign only: Adv ≥ 0 only (neg weight 0), Adv ≤ 0 only (λ = 0).

Command: python scripts/reproduce.py --figure calibration --scale toy|full --outdir DIR (runs the
sweep and draws the figure), or one run: python scripts/train.py --config
configs/paper/adv_sign.py:toy,<run> --workdir DIR. Scales, hardware and wall time:
configs/paper/base.py; toy budget: scripts/reproduce.py.
Expected (paper): Adv ≥ 0 only drives entropy to ~0.015 and is the most over-confident; Adv ≤ 0 only
raises it to ~0.88.
"""

from configs.paper import base

SWEEP = {
  "adv_nonneg_only": {"rl.neg_weight": 0.0},
  "adv_nonpos_only": {"rl.pos_weight": 0.0},
}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
