"""GRPO, the paper's baseline: token-mean loss, ε_low = ε_high = 0.2, N = 1, no KL, no bonus.

Command: python scripts/reproduce.py --figure clipping --scale toy|full --outdir DIR (runs the sweep
and draws the figure), or one run: python scripts/train.py --config configs/paper/grpo.py:toy,<run>
--workdir DIR. Scales, hardware and wall time: configs/paper/base.py; toy budget:
scripts/reproduce.py.
Expected (paper): entropy collapses (paper: final entropy 0.118, in-domain Avg@64 44.12).
"""

from configs.paper import base

# In the paper's regime on the real model GRPO logs the sign probe (the ΔH of Â > 0-only and
# Â < 0-only updates from its state) every 10 steps: does the negative tokens' effect change sign
# as accuracy rises?
SWEEP = {"grpo": {"real_offpolicy/rl.probe_every": 10}}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
