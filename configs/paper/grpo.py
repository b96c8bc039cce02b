"""GRPO, the paper's baseline: token-mean loss, ε_low = ε_high = 0.2, N = 1, no KL, no bonus.

Command: python scripts/reproduce.py --figure clipping --scale toy|full --outdir DIR (runs the sweep
and draws the figure), or one run: python scripts/train.py --config configs/paper/grpo.py:toy,<run>
--workdir DIR. Scales, hardware and wall time: configs/paper/base.py; toy budget:
scripts/reproduce.py.
Expected (paper): entropy collapses (paper: final entropy 0.118, in-domain Avg@64 44.12).
"""

from configs.paper import base

SWEEP = {"grpo": {}}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
