"""The clip-threshold factor: Clip-Higher, Clip-Lower, Clip-Tighter, Clip-Free (vs grpo.py).

Command: python scripts/reproduce.py --figure clipping --scale toy|full --outdir DIR (runs the sweep
and draws the figure), or one run: python scripts/train.py --config
configs/paper/clipping.py:toy,<run> --workdir DIR. Scales, hardware and wall time:
configs/paper/base.py; toy budget: scripts/reproduce.py.
Expected (paper): Clip-Higher keeps entropy highest, Clip-Free second; Clip-Lower collapses worst;
Clip-Tighter mitigates.
"""

from configs.paper import base

SWEEP = {
  "clip_higher": {"rl.eps_high": 0.28},  # ε_high 0.2 -> 0.28
  "clip_lower": {"rl.eps_low": 0.28},  # ε_low 0.2 -> 0.28
  "clip_tighter": {"rl.eps_low": 0.12},
  "clip_free": {"rl.clip": False},
}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
