"""RL objective: pure, jitted array functions (no model, config or I/O).

- ``advantages``: GRPO / Dr.GRPO / RLOO group advantages.
- ``losses``: the clipped surrogate ``policy_loss`` and the loss aggregations.
- ``kl``: KL-to-reference estimators k1 / k2 / k3 and straight-through variants.
- ``entropy_terms``: the entropy bonus and Entropy-Adv's advantage shaping.
- ``token_masks``: token covariance, Clip-Cov / KL-Cov, Rand-Pos-Clip, the 80/20 rule.
- ``controllers``: the λ schedules of Positive-Advantage Reweighting, adaptive entropy
  regularisation and the EntroPIC-style PI controller.

``METHODS`` lists the valid ``config.rl.method`` names: those of the registries
``entropy_terms.ADVANTAGE_SHAPERS``, ``controllers.ENTROPY_COEFS`` and
``token_masks.TOKEN_METHODS``.
"""

from jax_rlvr.rl.advantages import (
  ADVANTAGE_FNS,
  dr_grpo_advantages,
  grpo_advantages,
  rloo_advantages,
)
from jax_rlvr.rl.controllers import ENTROPY_COEFS, POS_WEIGHT_SCHEDULES
from jax_rlvr.rl.entropy_terms import ADVANTAGE_SHAPERS
from jax_rlvr.rl.losses import AGG_MODES, POLICY_LOSS_METRICS, aggregate_loss, policy_loss
from jax_rlvr.rl.token_masks import TOKEN_METHODS

METHODS = ("none", *ADVANTAGE_SHAPERS, *ENTROPY_COEFS, *TOKEN_METHODS)

__all__ = [
  "ADVANTAGE_FNS",
  "AGG_MODES",
  "POS_WEIGHT_SCHEDULES",
  "METHODS",
  "POLICY_LOSS_METRICS",
  "aggregate_loss",
  "dr_grpo_advantages",
  "grpo_advantages",
  "policy_loss",
  "rloo_advantages",
]
