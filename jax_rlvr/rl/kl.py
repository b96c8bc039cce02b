"""Per-token estimators of KL(π_θ || π_ref) from samples of π_θ, and the KL penalty loss.

Shape letters (as in jax_rlvr/__init__.py): B responses in the batch, T response tokens.

With d = log π_θ(y) - log π_ref(y) for a sampled token y (Schulman, "Approximating KL divergence"):
  k1 = d                       unbiased, high variance, can be negative;
  k2 = d² / 2                  biased, low variance; its gradient d·∇log π_θ is, on-policy, an
                               unbiased estimate of the gradient of KL(π_θ || π_ref);
  k3 = exp(-d) - 1 + d         unbiased, low variance, never negative (veRL's "low_var_kl");
                               computed as expm1(-d) + d to limit float32 cancellation;
  k1+ / k3+                    straight-through: the value of k1 / k3 with the gradient of k2
                               (veRL's "+" suffix), i.e. k2 + stop_gradient(kX - k2).
The paper's base objective uses no KL term; these are offered as a baseline knob.
"""

import functools

import jax
import jax.numpy as jnp

from jax_rlvr.rl.losses import aggregate_loss

# Bound on |d| inside exp(-d) of k3, so that a padded or extreme token cannot overflow.
KL_LOG_RATIO_LIMIT = 20.0


def _k1(d_BT):
  return d_BT


def _k2(d_BT):
  return 0.5 * d_BT**2


def _k3(d_BT):
  d_BT = jnp.clip(d_BT, -KL_LOG_RATIO_LIMIT, KL_LOG_RATIO_LIMIT)
  return jnp.expm1(-d_BT) + d_BT


def _straight_through(value_fn):
  def estimator(d_BT):
    k2_BT = _k2(d_BT)
    return k2_BT + jax.lax.stop_gradient(value_fn(d_BT) - k2_BT)

  return estimator


KL_ESTIMATORS = {
  "k1": _k1,
  "k2": _k2,
  "k3": _k3,
  "k1+": _straight_through(_k1),
  "k3+": _straight_through(_k3),
}


@functools.partial(jax.jit, static_argnames=("estimator",))
def kl_estimate(logp_BT, ref_logp_BT, estimator="k3"):
  """Per-token KL(π_θ || π_ref) estimate.

  Args:
    logp_BT: [B, T] log π_θ of the sampled tokens (differentiated).
    ref_logp_BT: [B, T] log π_ref of the same tokens (stop-gradiented).
    estimator: a key of KL_ESTIMATORS: "k1", "k2", "k3", "k1+", "k3+".

  Returns:
    [B, T] float32 per-token estimates (also on padding; mask them when aggregating).
  """
  if estimator not in KL_ESTIMATORS:
    raise ValueError(f"estimator={estimator!r} is not one of {tuple(KL_ESTIMATORS)}")
  d_BT = jnp.asarray(logp_BT, jnp.float32) - jax.lax.stop_gradient(
    jnp.asarray(ref_logp_BT, jnp.float32)
  )
  return KL_ESTIMATORS[estimator](d_BT)


@functools.partial(jax.jit, static_argnames=("estimator", "agg"))
def kl_loss(logp_BT, ref_logp_BT, mask_BT, *, estimator="k3", agg="token-mean", normaliser=None):
  """KL penalty to a reference policy, aggregated like the policy loss; multiply by β and add.

  Args:
    logp_BT: [B, T] log π_θ of the sampled tokens.
    ref_logp_BT: [B, T] log π_ref of the same tokens.
    mask_BT: [B, T] 1 on response tokens.
    estimator: a key of KL_ESTIMATORS.
    agg, normaliser: as in ``losses.aggregate_loss``.

  Returns:
    float32 scalar KL estimate (a loss: minimising it pulls π_θ toward π_ref).
  """
  # Padding may hold any log-prob (even -inf): zero it before the estimator, so that neither the
  # value nor the gradient can become NaN there.
  mask_BT = jnp.asarray(mask_BT) > 0
  logp_BT = jnp.where(mask_BT, jnp.asarray(logp_BT, jnp.float32), 0.0)
  ref_logp_BT = jnp.where(mask_BT, jnp.asarray(ref_logp_BT, jnp.float32), 0.0)
  return aggregate_loss(kl_estimate(logp_BT, ref_logp_BT, estimator), mask_BT, agg, normaliser)
