"""KL-Cov (Cui et al. 2025): β|log π - log π_old| on the top-k fraction of tokens by covariance.

Command: python scripts/reproduce.py --figure methods --scale toy|full --outdir DIR (runs the sweep
and draws the figure), or one run: python scripts/train.py --config
configs/paper/kl_cov.py:toy,<run> --workdir DIR. Scales, hardware and wall time:
configs/paper/base.py; toy budget: scripts/reproduce.py.
Expected (paper): entropy stays above GRPO's.
The penalty needs π_θ to differ from π_old: on an on-policy step (N = 1, the paper's main setting
and this sweep's) |log π - log π_old| is 0 up to rounding, which rl.token_masks
.KL_COV_TOLERANCE ignores, so at N = 1 KL-Cov trains exactly like GRPO. Give it N > 1
(--config.rl.mini_batches=2) to see it act.
"""

from configs.paper import base

SWEEP = {
  # k = 2e-4 of ~5k toy tokens per batch is one token; the toy scale uses 2e-3.
  "kl_cov": {"rl.method": "kl_cov", "rl.cov_fraction": 2e-4, "toy/rl.cov_fraction": 2e-3},
}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
