"""Clip-Cov (Cui et al. 2025): detach a random fraction r of tokens with covariance in (1, 5).

Command: python scripts/reproduce.py --figure methods --scale toy|full --outdir DIR (runs the sweep
and draws the figure), or one run: python scripts/train.py --config
configs/paper/clip_cov.py:toy,<run> --workdir DIR. Scales, hardware and wall time:
configs/paper/base.py; toy budget: scripts/reproduce.py.
Expected (paper): entropy stays above GRPO's.
"""

from configs.paper import base

SWEEP = {
  # r = 2e-4 of ~5k toy tokens per batch is one token; the toy scale uses 2e-3.
  # The real model's answer-only batches hold ~300 tokens: 2e-2 detaches a few of them.
  "clip_cov": {
    "rl.method": "clip_cov",
    "rl.cov_fraction": 2e-4,
    "toy/rl.cov_fraction": 2e-3,
    "real_offpolicy/rl.cov_fraction": 2e-2,
  },
}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
