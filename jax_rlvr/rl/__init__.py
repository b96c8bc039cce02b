"""RL objective: pure, jitted array functions (no model, config or I/O).

- ``advantages``: GRPO / Dr.GRPO / RLOO group advantages.
- ``losses``: the clipped surrogate ``policy_loss`` and the loss aggregations.
- ``kl``: KL-to-reference estimators k1 / k2 / k3 and straight-through variants.
- ``entropy_control``: entropy bonus and adaptive regularisation, Clip-Cov / KL-Cov, Rand-Pos-Clip,
  the 80/20 rule, Entropy-Adv, the λ schedules of Positive-Advantage Reweighting and the
  entropy-guided and EntroPIC-style controllers.
"""

from jax_rlvr.rl.advantages import (
  ADVANTAGE_FNS,
  dr_grpo_advantages,
  grpo_advantages,
  rloo_advantages,
)
from jax_rlvr.rl.losses import AGG_MODES, POLICY_LOSS_METRICS, aggregate_loss, policy_loss

__all__ = [
  "ADVANTAGE_FNS",
  "AGG_MODES",
  "POLICY_LOSS_METRICS",
  "aggregate_loss",
  "dr_grpo_advantages",
  "grpo_advantages",
  "policy_loss",
  "rloo_advantages",
]
