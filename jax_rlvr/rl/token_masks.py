"""Token selection: covariance, Clip-Cov, KL-Cov, Rand-Pos-Clip and the 80/20 rule.

Shape letters (as in jax_rlvr/__init__.py): B responses in the batch, T response tokens.

Every function is pure and jittable; hyper-parameters may be traced scalars unless marked static.
Conventions:
- ``mask_BT`` is 1 (or True) on response tokens, 0 on padding.
- ``adv`` is [B] (one advantage per response) or [B, T]; it is broadcast to [B, T].
- Token statistics (covariances, entropy ranks, token budgets) are computed over the WHOLE array
  passed in, with jnp reductions on the global arrays: under jit with the batch sharded over
  devices, XLA inserts the collectives, so the selection is the one of the unsharded batch. Call
  these on the global training batch, not per micro-batch or per shard, to reproduce the methods
  (``rl_step`` selects once per mini-batch and hands each micro-batch its rows).
- Token masks return float32 [B, T] weights in {0, 1}, always 0 on padding. Pass them to
  ``losses.policy_loss`` as ``token_weights_BT``: a weight-0 token contributes no gradient (and no
  value) but stays in the loss denominator ("detached").
- Token budgets "fraction f of n tokens" are floor(f·n), computed in float32 with a 1e-6 relative
  guard against the rounding of the product, and at least 1 (if there is any eligible token).
- Ties in a ranking are broken by flat position (row-major over [B, T]), so the selection is
  deterministic.

``TOKEN_METHODS`` is the registry by ``config.rl.method`` (see ``TokenMethod``).
"""

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jax_rlvr.rl.losses import aggregate_loss, broadcast_adv

_BUDGET_GUARD = 1.0 + 1e-6
# KL-Cov's |log π_θ - log π_old| has its kink at 0, where every on-policy step starts. There the
# two log-probs differ only by rounding (two forward passes, or the sampler's and the trainer's,
# agree to ~1e-6), and the sign of that noise would set a full-size ±β gradient. Differences up to
# this tolerance count as zero.
KL_COV_TOLERANCE = 1e-4


def _budget(fraction, n, minimum):
  count = jnp.floor(jnp.asarray(fraction, jnp.float32) * n * _BUDGET_GUARD)
  return jnp.maximum(count, minimum)


def _rank(key_BT):
  """0-based rank of every entry in ascending order of key (ties by flat position)."""
  flat = key_BT.reshape(-1)
  order = jnp.argsort(flat, stable=True)
  rank = jnp.zeros(flat.shape, jnp.int32).at[order].set(jnp.arange(flat.size, dtype=jnp.int32))
  return rank.reshape(key_BT.shape)


def _select_smallest(key_BT, eligible_BT, count):
  """Marks the `count` eligible entries with the smallest key."""
  rank_BT = _rank(jnp.where(eligible_BT, key_BT, jnp.inf))
  return eligible_BT & (rank_BT < count)


@jax.jit
def token_covariance(logp_BT, adv, mask_BT):
  """Per-token covariance term of Cui et al. 2025: (Â - mean Â)(log π - mean log π).

  Means are over the response tokens of the whole batch passed in (token-weighted, so a response's
  advantage counts once per token). Stop-gradiented.

  Args:
    logp_BT: [B, T] log π_θ of the sampled tokens.
    adv: [B] or [B, T] advantages.
    mask_BT: [B, T] 1 on response tokens.

  Returns:
    [B, T] float32 covariance terms, 0 on padding.
  """
  mask_BT = jnp.asarray(mask_BT) > 0
  logp_BT = jax.lax.stop_gradient(jnp.asarray(logp_BT, jnp.float32))
  adv_BT = jax.lax.stop_gradient(broadcast_adv(adv, logp_BT.shape))
  logp_BT = jnp.where(mask_BT, logp_BT, 0.0)
  adv_BT = jnp.where(mask_BT, adv_BT, 0.0)
  count = jnp.maximum(jnp.sum(mask_BT, dtype=jnp.float32), 1.0)
  cov_BT = (adv_BT - jnp.sum(adv_BT) / count) * (logp_BT - jnp.sum(logp_BT) / count)
  return jnp.where(mask_BT, cov_BT, 0.0)


@jax.jit
def clip_cov_mask(
  key,
  logp_BT,
  adv,
  mask_BT,
  *,
  clip_ratio=2e-4,
  cov_lb=1.0,
  cov_ub=5.0,
  old_logp_BT=None,
  eps_low=0.2,
  eps_high=0.2,
):
  """Clip-Cov token weights (Cui et al. 2025, "The Entropy Mechanism of RL for Reasoning LMs").

  Detaches n = max(1, floor(r · n_tok)) tokens, n_tok the response tokens in the batch, drawn
  uniformly without replacement among the candidates: response tokens whose covariance term
  (``token_covariance``) lies strictly inside (cov_lb, cov_ub) and, if ``old_logp_BT`` is given,
  that the PPO clip (ε_low, ε_high) has not already clipped (as in Cui et al.'s code). Fewer
  candidates than n: all are detached. Defaults r = 2e-4, bounds (1, 5). The draw ranks the
  priorities ``jax.random.uniform(key, mask_BT.shape)``, smallest first.

  Args:
    key: PRNG key.
    logp_BT: [B, T] log π_θ of the sampled tokens.
    adv: [B] or [B, T] advantages.
    mask_BT: [B, T] 1 on response tokens.
    clip_ratio: r, the fraction of response tokens to detach.
    cov_lb, cov_ub: the open covariance interval of the candidates.
    old_logp_BT: optional [B, T] log π_old, to leave out tokens the PPO clip already clipped.
    eps_low, eps_high: the policy loss's clip range (used only with old_logp_BT).

  Returns:
    [B, T] float32 token weights: 0 on detached tokens and padding, 1 elsewhere; pass them as
    ``policy_loss(..., token_weights_BT=...)``.
  """
  mask_BT = jnp.asarray(mask_BT) > 0
  cov_BT = token_covariance(logp_BT, adv, mask_BT)
  candidate_BT = mask_BT & (cov_BT > cov_lb) & (cov_BT < cov_ub)
  if old_logp_BT is not None:
    adv_BT = broadcast_adv(adv, mask_BT.shape)
    ratio_BT = jnp.exp(jnp.asarray(logp_BT, jnp.float32) - jnp.asarray(old_logp_BT, jnp.float32))
    ppo_clipped_BT = ((adv_BT > 0) & (ratio_BT > 1.0 + eps_high)) | (
      (adv_BT < 0) & (ratio_BT < 1.0 - eps_low)
    )
    candidate_BT = candidate_BT & ~jax.lax.stop_gradient(ppo_clipped_BT)
  count = _budget(clip_ratio, jnp.sum(mask_BT, dtype=jnp.float32), 1.0)
  priority_BT = jax.random.uniform(key, mask_BT.shape)
  detached_BT = _select_smallest(priority_BT, candidate_BT, count)
  return (mask_BT & ~detached_BT).astype(jnp.float32)


@jax.jit
def kl_cov_mask(logp_BT, adv, mask_BT, *, kl_ratio=2e-4):
  """KL-Cov selection (Cui et al. 2025): the top k = max(1, floor(k_ratio · n_tok)) response tokens
  by covariance term (``token_covariance``), n_tok the number of response tokens. Default k = 2e-4.

  Args:
    logp_BT: [B, T] log π_θ of the sampled tokens.
    adv: [B] or [B, T] advantages.
    mask_BT: [B, T] 1 on response tokens.
    kl_ratio: k, the fraction of response tokens selected.

  Returns:
    [B, T] float32, 1 on the selected tokens, 0 elsewhere (not a token weight: see kl_cov_loss).
  """
  mask_BT = jnp.asarray(mask_BT) > 0
  cov_BT = token_covariance(logp_BT, adv, mask_BT)
  count = _budget(kl_ratio, jnp.sum(mask_BT, dtype=jnp.float32), 1.0)
  return _select_smallest(-cov_BT, mask_BT, count).astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("agg",))
def kl_cov_loss(
  logp_BT,
  old_logp_BT,
  adv,
  mask_BT,
  *,
  kl_ratio=2e-4,
  beta=1.0,
  agg="token-mean",
  normaliser=None,
  selected_BT=None,
):
  """KL-Cov penalty (Cui et al. 2025): β·|log π_θ - log π_old| on the ``kl_cov_mask`` tokens.

  Returns aggregate(β·|log π_θ - log π_old|·selected), aggregated like the policy loss (same
  denominator), with differences of at most KL_COV_TOLERANCE counted as 0 (the on-policy kink);
  add it to ``policy_loss``. Defaults k = 2e-4, β = 1. In Cui et al. KL-Cov replaces
  the ratio clipping, i.e. pair it with ``policy_loss(..., clip=False)`` to follow them.

  Args:
    logp_BT: [B, T] log π_θ of the sampled tokens (differentiated).
    old_logp_BT: [B, T] log π_old of the sampled tokens.
    adv: [B] or [B, T] advantages.
    mask_BT: [B, T] 1 on response tokens.
    kl_ratio: k.
    beta: β.
    agg, normaliser: as in ``losses.aggregate_loss``.
    selected_BT: optional [B, T] ``kl_cov_mask`` selection made on a larger batch of which this
      is a part (e.g. the whole mini-batch of a micro-batch); by default made on this batch
      (then ``adv`` and ``kl_ratio`` are used only for it).

  Returns:
    float32 scalar loss term.
  """
  mask_BT = jnp.asarray(mask_BT) > 0
  if selected_BT is None:
    selected_BT = kl_cov_mask(logp_BT, adv, mask_BT, kl_ratio=kl_ratio)
  diff_BT = jnp.where(
    mask_BT,
    jnp.asarray(logp_BT, jnp.float32)
    - jax.lax.stop_gradient(jnp.asarray(old_logp_BT, jnp.float32)),
    0.0,
  )
  off_kink_BT = jnp.abs(jax.lax.stop_gradient(diff_BT)) > KL_COV_TOLERANCE
  penalty_BT = jnp.where(off_kink_BT, jnp.abs(diff_BT), 0.0)
  return aggregate_loss(beta * penalty_BT * selected_BT, mask_BT, agg, normaliser)


@jax.jit
def rand_pos_clip_mask(key, adv, mask_BT, *, fraction=2e-4):
  """Rand-Pos-Clip token weights (the paper's ablation of Clip-Cov, Jin et al.).

  Detaches n = max(1, floor(f · P)) tokens drawn uniformly without replacement among the P
  positive-advantage response tokens (none if P = 0). The default f = 2e-4 mirrors Clip-Cov's r;
  the paper does not give its value. The draw ranks ``jax.random.uniform(key, mask_BT.shape)``.

  Args:
    key: PRNG key.
    adv: [B] or [B, T] advantages.
    mask_BT: [B, T] 1 on response tokens.
    fraction: f.

  Returns:
    [B, T] float32 token weights: 0 on detached tokens and padding, 1 elsewhere.
  """
  mask_BT = jnp.asarray(mask_BT) > 0
  candidate_BT = mask_BT & (broadcast_adv(adv, mask_BT.shape) > 0)
  count = _budget(fraction, jnp.sum(candidate_BT, dtype=jnp.float32), 1.0)
  priority_BT = jax.random.uniform(key, mask_BT.shape)
  detached_BT = _select_smallest(priority_BT, candidate_BT, count)
  return (mask_BT & ~detached_BT).astype(jnp.float32)


@jax.jit
def top_entropy_mask(entropy_BT, mask_BT, *, top_frac=0.2):
  """The 80/20 rule (Wang et al. 2025, "Beyond the 80/20 Rule: High-Entropy Minority Tokens Drive
  Effective RL for LLM Reasoning"): only the top ρ = 20% highest-entropy tokens train.

  Keeps n = max(1, floor(ρ · n_tok)) response tokens of highest entropy in the batch; the others get
  weight 0 but stay in the denominator, as in Wang et al.'s objective (normalised by all tokens).

  Args:
    entropy_BT: [B, T] token entropies (stop-gradiented).
    mask_BT: [B, T] 1 on response tokens.
    top_frac: ρ.

  Returns:
    [B, T] float32 token weights: 1 on the kept tokens, 0 elsewhere.
  """
  mask_BT = jnp.asarray(mask_BT) > 0
  entropy_BT = jax.lax.stop_gradient(jnp.asarray(entropy_BT, jnp.float32))
  count = _budget(top_frac, jnp.sum(mask_BT, dtype=jnp.float32), 1.0)
  return _select_smallest(-entropy_BT, mask_BT, count).astype(jnp.float32)


class TokenBatch(NamedTuple):
  """The per-token arrays a token-mask method may read; all [B, T] (adv_BT may be [B])."""

  logp_BT: jax.Array
  old_logp_BT: jax.Array
  adv_BT: jax.Array
  entropy_BT: jax.Array
  mask_BT: jax.Array


class TokenMethod(NamedTuple):
  """A token-selecting method.

  select: fn(key, batch: TokenBatch, hp) -> [B, T] float32 selection, made once on a whole
    mini-batch (``hp`` is the run's ``rl_step.RLHyperParams``, attributes named as config.rl).
  penalty: None if the selection is the policy loss's token weights; else
    fn(logp_BT, batch, selected_BT, hp, agg, normaliser) -> a scalar loss term added to the policy
    loss and logged as "<method>_loss".
  reads_policy: False if ``select`` reads only the advantages and the mask (no forward pass).
  """

  select: Callable
  penalty: Callable | None = None
  reads_policy: bool = True


def _kl_cov_penalty(logp_BT, batch, selected_BT, hp, agg, normaliser):
  return kl_cov_loss(
    logp_BT,
    batch.old_logp_BT,
    batch.adv_BT,
    batch.mask_BT,
    beta=hp.kl_cov_beta,
    selected_BT=selected_BT,
    agg=agg,
    normaliser=normaliser,
  )


# Token-selecting methods by name.
TOKEN_METHODS = {
  "clip_cov": TokenMethod(
    lambda key, b, hp: clip_cov_mask(
      key,
      b.logp_BT,
      b.adv_BT,
      b.mask_BT,
      clip_ratio=hp.cov_fraction,
      cov_lb=hp.cov_bounds[0],
      cov_ub=hp.cov_bounds[1],
      old_logp_BT=b.old_logp_BT,
      eps_low=hp.eps_low,
      eps_high=hp.eps_high,
    )
  ),
  "kl_cov": TokenMethod(
    lambda key, b, hp: kl_cov_mask(b.logp_BT, b.adv_BT, b.mask_BT, kl_ratio=hp.cov_fraction),
    penalty=_kl_cov_penalty,
  ),
  "rand_pos_clip": TokenMethod(
    lambda key, b, hp: rand_pos_clip_mask(
      key, b.adv_BT, b.mask_BT, fraction=hp.rand_pos_clip_fraction
    ),
    reads_policy=False,
  ),
  "top_entropy": TokenMethod(
    lambda key, b, hp: top_entropy_mask(b.entropy_BT, b.mask_BT, top_frac=hp.top_entropy_fraction)
  ),
}
