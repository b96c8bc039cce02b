"""Entropy terms of the loss: the entropy bonus and Entropy-Adv's advantage shaping.

Shape letters (as in jax_rlvr/__init__.py): B responses in the batch, T response tokens.

Token entropies come from ``models.scoring.entropy_from_logits`` (the one -inf-safe formula of the
package). Functions are pure and jittable; hyper-parameters may be traced scalars.

The registry ``ADVANTAGE_SHAPERS``, by ``config.rl.method``: fn(adv, entropy_BT, hp) -> [B, T]
advantages for the policy loss (``hp`` is the run's ``rl_step.RLHyperParams``, whose attributes
are the fields of ``config.rl``).
The bonus's coefficient α of each bonus method is ``controllers.ENTROPY_COEFS``.
"""

import functools

import jax
import jax.numpy as jnp

from jax_rlvr.rl.losses import aggregate_loss, broadcast_adv


@functools.partial(jax.jit, static_argnames=("agg",))
def entropy_bonus_loss(entropy_BT, mask_BT, coef, *, agg="token-mean", normaliser=None):
  """Entropy bonus α·H as a loss term: returns -α · aggregate(H).

  The classic entropy regularisation (Williams & Peng 1991; Mnih et al. 2016). The paper's fixed-α
  baselines use α ∈ {0.001, 0.002, -0.001} (a negative α penalises entropy).
  Add the result to the policy loss; gradients flow through ``entropy_BT``.

  Args:
    entropy_BT: [B, T] token entropies of π_θ (e.g. ``entropy_from_logits``).
    mask_BT: [B, T] 1 on response tokens.
    coef: α, a float or traced scalar (e.g. ``adaptive_entropy_coef(state)``).
    agg, normaliser: as in ``losses.aggregate_loss``.

  Returns:
    float32 scalar loss term.
  """
  return -jnp.asarray(coef, jnp.float32) * aggregate_loss(entropy_BT, mask_BT, agg, normaliser)


@jax.jit
def entropy_advantage(adv, entropy_BT, *, alpha=0.4, kappa=2.0):
  """Entropy-Adv (Cheng et al. 2025, "Reasoning with Exploration: An Entropy Perspective").

  Â'_t = Â_t + min(α · sg(H_t), |Â_t| / κ); defaults α = 0.4, κ = 2. The bonus is never negative
  and, with κ > 1, never flips the sign of Â; tokens with Â = 0 keep 0.

  Args:
    adv: [B] or [B, T] advantages.
    entropy_BT: [B, T] token entropies (stop-gradiented).
    alpha: α.
    kappa: κ.

  Returns:
    [B, T] float32 shaped advantages, to pass to policy_loss as ``adv``.
  """
  entropy_BT = jax.lax.stop_gradient(jnp.asarray(entropy_BT, jnp.float32))
  adv_BT = broadcast_adv(adv, entropy_BT.shape)
  return adv_BT + jnp.minimum(alpha * entropy_BT, jnp.abs(adv_BT) / kappa)


# Advantage shaping by method name.
ADVANTAGE_SHAPERS = {
  "entropy_adv": lambda adv, entropy_BT, hp: entropy_advantage(
    adv, entropy_BT, alpha=hp.entropy_adv_alpha, kappa=hp.entropy_adv_kappa
  ),
}
