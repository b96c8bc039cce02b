"""The off-policy factor: N ∈ {1, 2, 4} gradient steps (mini-batches) per rollout batch.

Command: python scripts/reproduce.py --figure offpolicy --scale toy|full --outdir DIR (runs the
sweep and draws the figure), or one run: python scripts/train.py --config
configs/paper/offpolicy.py:toy,<run> --workdir DIR. Scales, hardware and wall time:
configs/paper/base.py; toy budget: scripts/reproduce.py.
Expected (paper): more updates amplify the entropy trend, raise training reward and lower pass@k
(GRPO N = 2 final entropy 0.023).
"""

from configs.paper import base

# At the real scale each of the N mini-batches of 64 / N rows is one pass (64 / 4 = 16 rows); at
# the full scale the micro-batches keep their N = 1 rows.
SWEEP = {
  f"offpolicy_n{n}": {
    "rl.mini_batches": n,
    "real/rl.micro_batches": 4 // n,
    "full/rl.micro_batches": base.full_micro_batches(n),
  }
  for n in (1, 2, 4)
}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
