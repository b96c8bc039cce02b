"""The clip-threshold factor: Clip-Higher, Clip-Lower, Clip-Tighter, Clip-Free, all at N = 4.

Clipping only acts once the policy has moved away from the one that sampled the rollout: with one
gradient step per rollout batch (N = 1) every ratio is exactly 1. So every run of this sweep takes
N = 4 mini-batch steps per rollout batch (DAPO's setting), and its reference is GRPO at N = 4,
offpolicy_n4 (configs/paper/offpolicy.py).

Command: python scripts/reproduce.py --figure clipping --scale toy|full --outdir DIR (runs the sweep
and draws the figure), or one run: python scripts/train.py --config
configs/paper/clipping.py:toy,<run> --workdir DIR. Scales, hardware and wall time:
configs/paper/base.py; toy budget: scripts/reproduce.py.
Expected (paper): Clip-Higher keeps entropy highest, Clip-Free second; Clip-Lower collapses worst;
Clip-Tighter mitigates.
"""

from configs.paper import base

N = 4  # rl.mini_batches of every clipping run
# The real scale's 64 rows split into N = 4 mini-batches of 16: one pass each, no accumulation;
# the full scale's micro-batches keep their N = 1 rows.
OFF_POLICY = {
  "rl.mini_batches": N,
  "real/rl.micro_batches": 1,
  "full/rl.micro_batches": base.full_micro_batches(N),
}
SWEEP = {
  "clip_higher": {**OFF_POLICY, "rl.eps_high": 0.28},  # ε_high 0.2 -> 0.28
  "clip_lower": {**OFF_POLICY, "rl.eps_low": 0.28},  # ε_low 0.2 -> 0.28
  "clip_tighter": {**OFF_POLICY, "rl.eps_low": 0.12},
  "clip_free": {**OFF_POLICY, "rl.clip": False},
}


def sweep(scale):
  del scale
  return SWEEP


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
