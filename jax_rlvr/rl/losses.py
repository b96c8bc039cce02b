"""The clipped policy-gradient surrogate of GRPO / DAPO and its loss aggregations.

Shape letters (as in jax_rlvr/__init__.py): B responses in the (micro-)batch, T response tokens
(padded length).

Conventions shared by every function here:
- ``mask_BT`` is 1 (or True) on response tokens and 0 on padding; it is binarised with ``> 0``.
- Everything is computed in float32, whatever the input dtype.
- Losses are the NEGATIVE of the objective, to be minimised.
- Gradients flow only through ``logp_BT``: old log-probs, advantages and weights are
  stop-gradiented.
"""

import functools

import jax
import jax.numpy as jnp

AGG_MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm")

# |log r| is clamped to this before exp (as veRL does) so that a stale or padded log-prob cannot
# overflow the ratio; beyond it the ratio is constant and carries no gradient.
LOG_RATIO_LIMIT = 20.0

POLICY_LOSS_METRICS = (
  "clip_frac_low",
  "clip_frac_high",
  "dual_clip_frac",
  "adv_pos_frac",
  "adv_neg_frac",
  "adv_zero_frac",
  "approx_kl",
  "ratio_mean",
  "ratio_max",
  "ratio_min",
)


def _check_agg(agg):
  if agg not in AGG_MODES:
    raise ValueError(f"agg={agg!r} is not one of {AGG_MODES}")


def broadcast_adv(adv, shape_BT):
  """Returns advantages as [B, T] float32: a [B] array is broadcast over each response's tokens."""
  adv = jnp.asarray(adv, jnp.float32)
  if adv.ndim == 1:
    adv = adv[:, None]
  return jnp.broadcast_to(adv, shape_BT)


def agg_normaliser(mask_BT, agg="token-mean"):
  """The denominator `aggregate_loss` divides by, as a float32 scalar: the number of response
  tokens (token-mean), of responses with at least one token (seq-mean-token-mean), or of rows
  (seq-mean-token-sum-norm, whose constant T is applied on top).

  Computed on a whole batch and passed as ``normaliser`` to the losses of its micro-batches, it
  makes their sum exactly the whole batch's loss (and gradient), in every mode.
  """
  _check_agg(agg)
  mask_BT = jnp.asarray(mask_BT) > 0
  if agg == "token-mean":
    return jnp.sum(mask_BT, dtype=jnp.float32)
  if agg == "seq-mean-token-mean":
    return jnp.sum(jnp.any(mask_BT, axis=1), dtype=jnp.float32)
  return jnp.float32(mask_BT.shape[0])


@functools.partial(jax.jit, static_argnames=("agg",))
def aggregate_loss(values_BT, mask_BT, agg="token-mean", normaliser=None):
  """Reduces per-token values [B, T] to a scalar over the response tokens.

  Modes:
    token-mean: Σ_{b,t} m·v / Σ_{b,t} m, the sum over all response tokens of the batch divided by
      their count (DAPO, the paper's default).
    seq-mean-token-mean: each response's token mean, then the mean over responses that have at least
      one token (GRPO as first published). Responses without tokens are left out.
    seq-mean-token-sum-norm: Σ_{b,t} m·v / (B · T), i.e. each response's token SUM divided by the
      constant T (the padded response length, normally the maximum generation length), then the
      mean over all B rows (Dr.GRPO's constant normaliser; padding rows count, as the normaliser
      must not depend on the data).
  ``normaliser`` replaces the count in the denominator (tokens, non-empty responses or rows; see
  `agg_normaliser`): with the whole batch's count, the losses of its micro-batches sum to the
  whole batch's loss, however the rows are split.

  Args:
    values_BT: [B, T] per-token values.
    mask_BT: [B, T] 1 on response tokens.
    agg: one of AGG_MODES.
    normaliser: optional scalar, `agg_normaliser` of the batch this one is a part of.

  Returns:
    float32 scalar.
  """
  _check_agg(agg)
  mask_BT = jnp.asarray(mask_BT) > 0
  values_BT = jnp.where(mask_BT, jnp.asarray(values_BT, jnp.float32), 0.0)
  count = agg_normaliser(mask_BT, agg) if normaliser is None else normaliser
  count = jnp.maximum(jnp.asarray(count, jnp.float32), 1.0)
  if agg == "token-mean":
    return jnp.sum(values_BT) / count
  if agg == "seq-mean-token-mean":
    token_count_B = jnp.sum(mask_BT, axis=1, dtype=jnp.float32)
    return jnp.sum(jnp.sum(values_BT, axis=1) / jnp.maximum(token_count_B, 1.0)) / count
  return jnp.sum(values_BT) / (count * values_BT.shape[1])


def _masked_frac(x_BT, mask_BT, count):
  return jnp.sum(x_BT & mask_BT, dtype=jnp.float32) / count


@functools.partial(jax.jit, static_argnames=("clip", "dual_clip_c", "agg"))
def policy_loss(
  logp_BT,
  old_logp_BT,
  adv,
  mask_BT,
  *,
  eps_low=0.2,
  eps_high=0.2,
  clip=True,
  dual_clip_c=None,
  pos_weight=1.0,
  neg_weight=1.0,
  token_weights_BT=None,
  agg="token-mean",
  normaliser=None,
):
  """PPO / GRPO / DAPO clipped surrogate loss with advantage-sign weighting.

  Per token, with r = exp(logp - old_logp) and Â the token's advantage:
    objective  o = min(r·Â, clip(r, 1 - ε_low, 1 + ε_high)·Â)          (clip=True)
               o = r·Â                                                   (clip=False, "Clip-Free")
    dual clip: o = max(o, c·Â) where Â < 0 (Ye et al. 2020), applied on top of either form: a
               negative-advantage token whose ratio exceeds c contributes the constant c·Â.
    weight     w = pos_weight if Â > 0, neg_weight if Â < 0 (1 if Â = 0), times token_weights_BT.
  loss = -aggregate(w·o) (see ``aggregate_loss``); the weights scale the terms, the denominator is
  unchanged. Clipping is strict: a token is clipped on the high side when Â > 0 and r > 1 + ε_high,
  on the low side when Â < 0 and r < 1 - ε_low, and a clipped token has exactly zero gradient.

  Paper runs: DAPO clip-higher is ε_high = 0.28; "Adv ≤ 0 only" is pos_weight = 0; "Adv ≥ 0 only"
  is neg_weight = 0; Positive-Advantage Reweighting is pos_weight = λ (a Python float or a traced
  scalar, so a schedule can change it every step without recompiling). Masking methods (Clip-Cov,
  Rand-Pos-Clip, the 80/20 rule) pass their 0/1 output as ``token_weights_BT``: a weight-0 token has
  no gradient but stays in the denominator.

  Args:
    logp_BT: [B, T] log π_θ of the sampled tokens (the only input that is differentiated).
    old_logp_BT: [B, T] log π_old of the sampled tokens (the behaviour policy of the rollout).
    adv: [B] (one advantage per response, broadcast over its tokens) or [B, T].
    mask_BT: [B, T] 1 on response tokens, 0 on padding.
    eps_low, eps_high: ε_low, ε_high of the clip range [1 - ε_low, 1 + ε_high].
    clip: False disables the ratio clipping (Clip-Free).
    dual_clip_c: None, or the dual-clip constant c > 1 (static).
    pos_weight, neg_weight: weights of the tokens with Â > 0 and Â < 0.
    token_weights_BT: optional [B, T] per-token weights multiplying the terms.
    agg: one of AGG_MODES (static).
    normaliser: optional denominator of the aggregation (see ``aggregate_loss``).

  Returns:
    (loss, metrics): float32 scalar loss and a flat dict of float32 scalars with the keys
    POLICY_LOSS_METRICS, computed over this call's response tokens:
      clip_frac_low / clip_frac_high: fraction of tokens clipped on each side;
      dual_clip_frac: fraction with Â < 0 and r > c (0 without dual clip);
      adv_pos_frac / adv_neg_frac / adv_zero_frac: fractions of tokens by the sign of Â;
      approx_kl: mean of (r - 1) - log r, the non-negative k3 estimate of KL(π_old || π_θ) from the
        π_old samples;
      ratio_mean / ratio_max / ratio_min: statistics of r (0 if there are no tokens).
  """
  _check_agg(agg)
  if dual_clip_c is not None and dual_clip_c <= 1.0:
    raise ValueError(f"dual_clip_c must be > 1, got {dual_clip_c}")
  mask_BT = jnp.asarray(mask_BT) > 0
  logp_BT = jnp.asarray(logp_BT, jnp.float32)
  old_logp_BT = jax.lax.stop_gradient(jnp.asarray(old_logp_BT, jnp.float32))
  adv_BT = jax.lax.stop_gradient(broadcast_adv(adv, logp_BT.shape))

  log_ratio_BT = jnp.where(mask_BT, logp_BT - old_logp_BT, 0.0)
  log_ratio_BT = jnp.clip(log_ratio_BT, -LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)
  ratio_BT = jnp.exp(log_ratio_BT)

  pos_BT = adv_BT > 0
  neg_BT = adv_BT < 0
  no_BT = jnp.zeros_like(mask_BT)
  clip_high_BT = pos_BT & (ratio_BT > 1.0 + eps_high) if clip else no_BT
  clip_low_BT = neg_BT & (ratio_BT < 1.0 - eps_low) if clip else no_BT
  dual_BT = neg_BT & (ratio_BT > dual_clip_c) if dual_clip_c is not None else no_BT

  # The min/max of the surrogate written as a selection: the clipped branches are constants times Â,
  # so they carry no gradient, and the branch that is active is the one the metrics count.
  obj_BT = ratio_BT * adv_BT
  obj_BT = jnp.where(clip_high_BT, (1.0 + eps_high) * adv_BT, obj_BT)
  obj_BT = jnp.where(clip_low_BT, (1.0 - eps_low) * adv_BT, obj_BT)
  if dual_clip_c is not None:
    obj_BT = jnp.where(dual_BT, dual_clip_c * adv_BT, obj_BT)

  weight_BT = jnp.where(
    pos_BT,
    jnp.asarray(pos_weight, jnp.float32),
    jnp.where(neg_BT, jnp.asarray(neg_weight, jnp.float32), 1.0),
  )
  if token_weights_BT is not None:
    weight_BT = weight_BT * jnp.asarray(token_weights_BT, jnp.float32)
  weight_BT = jax.lax.stop_gradient(weight_BT)
  loss = -aggregate_loss(weight_BT * obj_BT, mask_BT, agg, normaliser)

  ratio_BT = jax.lax.stop_gradient(ratio_BT)
  log_ratio_BT = jax.lax.stop_gradient(log_ratio_BT)
  n_tokens = jnp.sum(mask_BT, dtype=jnp.float32)
  count = jnp.maximum(n_tokens, 1.0)
  any_tokens = n_tokens > 0
  metrics = {
    "clip_frac_low": _masked_frac(clip_low_BT, mask_BT, count),
    "clip_frac_high": _masked_frac(clip_high_BT, mask_BT, count),
    "dual_clip_frac": _masked_frac(dual_BT, mask_BT, count),
    "adv_pos_frac": _masked_frac(pos_BT, mask_BT, count),
    "adv_neg_frac": _masked_frac(neg_BT, mask_BT, count),
    "adv_zero_frac": _masked_frac(adv_BT == 0, mask_BT, count),
    "approx_kl": jnp.sum(jnp.where(mask_BT, ratio_BT - 1.0 - log_ratio_BT, 0.0)) / count,
    "ratio_mean": jnp.sum(jnp.where(mask_BT, ratio_BT, 0.0)) / count,
    "ratio_max": jnp.where(any_tokens, jnp.max(jnp.where(mask_BT, ratio_BT, -jnp.inf)), 0.0),
    "ratio_min": jnp.where(any_tokens, jnp.min(jnp.where(mask_BT, ratio_BT, jnp.inf)), 0.0),
  }
  return loss, {k: v.astype(jnp.float32) for k, v in metrics.items()}
