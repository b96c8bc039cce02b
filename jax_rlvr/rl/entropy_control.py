"""Entropy-control methods: bonuses, token masks, advantage shaping, λ schedules and controllers.

"The paper" below is Jin et al., "Revisiting Entropy in Reinforcement Learning for Large Reasoning
Models" (arXiv 2511.05993), whose method is Positive-Advantage Reweighting; the other methods are
the baselines and neighbours it compares, each docstring naming its source and defaults.

Shape letters: B responses in the batch, T response tokens, V vocabulary.

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
- Controllers keep their state in a NamedTuple pytree of float32 scalars (checkpointed by the train
  loop) with ``init_*(...) -> state``, ``update_*(state, entropy, ...) -> state`` and a function
  giving the current output. ``entropy`` is the batch's mean token entropy at the step just taken.
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


# -------------------------------------------------------------------------------------------------
# Entropy and entropy bonuses.


@jax.jit
def entropy_from_logits(logits_BTV):
  """Token entropy H = -Σ_v π(v) log π(v) of softmax(logits), in float32.

  Args:
    logits_BTV: [..., V] logits (any leading shape; -inf entries are allowed).

  Returns:
    [...] float32 entropies, differentiable w.r.t. the logits.
  """
  logp_BTV = jax.nn.log_softmax(jnp.asarray(logits_BTV, jnp.float32), axis=-1)
  p_BTV = jnp.exp(logp_BTV)
  # 0·log 0 = 0, written so that neither the value nor the gradient of a -inf logit is NaN.
  safe_logp_BTV = jnp.where(p_BTV > 0, logp_BTV, 0.0)
  return -jnp.sum(p_BTV * safe_logp_BTV, axis=-1)


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


class AdaptiveEntropyState(NamedTuple):
  """State of adaptive entropy regularisation: the current bonus coefficient α (>= 0)."""

  coef: jax.Array


def init_adaptive_entropy(coef=0.0):
  """Initial state; α_0 = 0 by default."""
  return AdaptiveEntropyState(coef=jnp.asarray(coef, jnp.float32))


@jax.jit
def update_adaptive_entropy(state, entropy, *, target=0.2, step=0.005):
  """Adaptive entropy regularisation: α ← max(α + step, 0) if H < δ, else max(α - step, 0).

  The coefficient of the entropy bonus rises while the entropy is below the target δ and falls
  otherwise, never below 0 (the adaptive entropy control of Skywork-OR1, He et al. 2025). The paper
  uses δ = 0.2 and δ = the initial entropy; the step default 0.005 is this project's choice.

  Args:
    state: AdaptiveEntropyState.
    entropy: mean token entropy H of the step just taken (scalar).
    target: δ.
    step: the increment of α.

  Returns:
    The new AdaptiveEntropyState.
  """
  below = jnp.asarray(entropy, jnp.float32) < target
  coef = jnp.where(below, state.coef + step, state.coef - step)
  return AdaptiveEntropyState(coef=jnp.maximum(coef, 0.0).astype(jnp.float32))


def adaptive_entropy_coef(state):
  """The current bonus coefficient α, for ``entropy_bonus_loss``."""
  return state.coef


# -------------------------------------------------------------------------------------------------
# Token selection (Clip-Cov, KL-Cov, Rand-Pos-Clip, the 80/20 rule).


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

  Detaches n = max(1, floor(r · N)) tokens, N the number of response tokens in the batch, drawn
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
  """KL-Cov selection (Cui et al. 2025): the top k = max(1, floor(k_ratio · N)) response tokens by
  covariance term (``token_covariance``), N the number of response tokens. Default k = 2e-4.

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

  Keeps n = max(1, floor(ρ · N)) response tokens of highest entropy in the batch; the others get
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


def _clip_cov_method(key, batch, **hparams):
  return clip_cov_mask(
    key, batch.logp_BT, batch.adv_BT, batch.mask_BT, old_logp_BT=batch.old_logp_BT, **hparams
  )


def _rand_pos_clip_method(key, batch, **hparams):
  return rand_pos_clip_mask(key, batch.adv_BT, batch.mask_BT, **hparams)


def _top_entropy_method(key, batch, **hparams):
  del key  # deterministic
  return top_entropy_mask(batch.entropy_BT, batch.mask_BT, **hparams)


# Token-mask methods by name, each called as fn(key, batch: TokenBatch, **hparams) -> [B, T] token
# weights for policy_loss(token_weights_BT=...). hparams are the keyword arguments of the function.
TOKEN_MASK_FNS = {
  "clip_cov": _clip_cov_method,
  "rand_pos_clip": _rand_pos_clip_method,
  "top_entropy": _top_entropy_method,
}


# -------------------------------------------------------------------------------------------------
# Advantage shaping.


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


# -------------------------------------------------------------------------------------------------
# Positive-Advantage Reweighting: λ schedules (pos_weight = λ, neg_weight = 1) and controllers.


def _check_total_steps(total_steps):
  if not isinstance(total_steps, int) or total_steps < 2:
    raise ValueError(f"total_steps must be an int >= 2, got {total_steps!r}")


@functools.partial(jax.jit, static_argnames=("total_steps",))
def constant_lambda(step, total_steps, *, value=1.0):
  """Constant λ of Positive-Advantage Reweighting (the paper): λ = 1 is GRPO, λ = 0 "Adv ≤ 0 only".

  Args:
    step: 0-based training step (unused).
    total_steps: number of training steps (static, unused).
    value: λ.

  Returns:
    float32 scalar λ.
  """
  del step, total_steps
  return jnp.asarray(value, jnp.float32)


@functools.partial(jax.jit, static_argnames=("total_steps",))
def stage_lambda(step, total_steps):
  """Stage-based λ (Jin et al.): 0 for the first half of training, then linear up to 1.

  With progress p = step / (total_steps - 1) ∈ [0, 1] (the first step 0, the last 1):
  λ = clip(2p - 1, 0, 1), i.e. λ = 0 up to the middle step and λ = 1 at the last step.

  Args:
    step: 0-based training step (may be traced).
    total_steps: number of training steps K >= 2 (static).

  Returns:
    float32 scalar λ.
  """
  _check_total_steps(total_steps)
  # (2·step - (K - 1)) / (K - 1) is 2p - 1 without rounding p, so the middle step gets exactly 0.
  rise = 2.0 * jnp.asarray(step, jnp.float32) - (total_steps - 1)
  return jnp.clip(rise / (total_steps - 1), 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=("total_steps", "num_epochs"))
def epoch_lambda(step, total_steps, *, num_epochs):
  """Epoch-wise λ (Jin et al.): λ = (e - 1) / (E - 1) during epoch e = 1..E.

  The epoch of a 0-based step is e = step // (total_steps // E) + 1, capped at E.

  Args:
    step: 0-based training step (may be traced).
    total_steps: number of training steps, a multiple of E (static).
    num_epochs: E >= 2 (static).

  Returns:
    float32 scalar λ.
  """
  _check_total_steps(total_steps)
  if num_epochs < 2 or total_steps % num_epochs:
    raise ValueError(f"num_epochs={num_epochs} must be >= 2 and divide total_steps={total_steps}")
  epoch0 = jnp.minimum(jnp.asarray(step, jnp.int32) // (total_steps // num_epochs), num_epochs - 1)
  return epoch0.astype(jnp.float32) / (num_epochs - 1)


# λ schedules by name, each called as fn(step, total_steps, **hparams) -> λ = pos_weight.
LAMBDA_SCHEDULES = {
  "constant": constant_lambda,
  "stage": stage_lambda,
  "epoch": epoch_lambda,
}


class EntropyGuidedState(NamedTuple):
  """State of entropy-guided Positive-Advantage Reweighting: the current λ ∈ [0, 1]."""

  lam: jax.Array


def init_entropy_guided(lam=0.0):
  """Initial state; λ_0 = 0 by default (the paper's)."""
  return EntropyGuidedState(lam=jnp.asarray(lam, jnp.float32))


@jax.jit
def update_entropy_guided(state, entropy, *, target=0.2, delta=0.05):
  """Entropy-guided λ (Jin et al., the main variant of Positive-Advantage Reweighting).

  After step k with mean token entropy H_k: λ ← clip(λ - Δ, 0, 1) if H_k < δ, else
  clip(λ + Δ, 0, 1). Defaults δ = 0.2, Δ = 0.05 (and λ_0 = 0 in ``init_entropy_guided``). Step k
  itself uses the λ from before its update.

  Args:
    state: EntropyGuidedState.
    entropy: H_k (scalar).
    target: δ.
    delta: Δ.

  Returns:
    The new EntropyGuidedState.
  """
  below = jnp.asarray(entropy, jnp.float32) < target
  lam = jnp.where(below, state.lam - delta, state.lam + delta)
  return EntropyGuidedState(lam=jnp.clip(lam, 0.0, 1.0).astype(jnp.float32))


def entropy_guided_weights(state):
  """(pos_weight, neg_weight) = (λ, 1) for ``policy_loss``."""
  return state.lam, jnp.ones((), jnp.float32)


class EntroPICState(NamedTuple):
  """State of the EntroPIC-style PI controller: the error integral and the current output α."""

  integral: jax.Array
  alpha: jax.Array


def init_entropic():
  """Initial state: zero integral and α = 0 (weights 1, i.e. GRPO)."""
  return EntroPICState(integral=jnp.zeros((), jnp.float32), alpha=jnp.zeros((), jnp.float32))


@jax.jit
def update_entropic(state, entropy, *, target=0.2, kp=1.0, ki=0.1, alpha_max=1.0):
  """PI control of the entropy (EntroPIC-style; Yang et al. 2025, "EntroPIC: Towards Stable
  Long-Term Training of LLMs via Entropy Stabilization with Proportional-Integral Control").

  With error e = δ - H (positive when the entropy is too low):
    I ← clip(I + e, -α_max / K_i, α_max / K_i)     (anti-windup; unbounded when K_i = 0)
    α = clip(K_p · e + K_i · I, -α_max, α_max)
  and the weights (``entropic_weights``) are pos_weight = 1 - α, neg_weight = 1 + α: when the
  entropy is below the target, positive-advantage tokens (which lower the entropy) are
  down-weighted and negative-advantage tokens (which raise it) up-weighted, and vice versa. This is
  the project's reading of EntroPIC; the defaults K_p = 1, K_i = 0.1, α_max = 1 (weights in
  [0, 2]) and δ = 0.2 are project choices, not EntroPIC's values.

  Args:
    state: EntroPICState.
    entropy: mean token entropy H of the step just taken (scalar).
    target: δ, the target entropy.
    kp, ki: the proportional and integral gains.
    alpha_max: bound on |α|.

  Returns:
    The new EntroPICState.
  """
  error = jnp.asarray(target, jnp.float32) - jnp.asarray(entropy, jnp.float32)
  bound = jnp.where(ki > 0, alpha_max / jnp.maximum(ki, 1e-12), jnp.inf)
  integral = jnp.clip(state.integral + error, -bound, bound)
  alpha = jnp.clip(kp * error + ki * integral, -alpha_max, alpha_max)
  return EntroPICState(integral=integral.astype(jnp.float32), alpha=alpha.astype(jnp.float32))


def entropic_weights(state):
  """(pos_weight, neg_weight) = (1 - α, 1 + α) for ``policy_loss``."""
  return 1.0 - state.alpha, 1.0 + state.alpha


@jax.jit
def entropic_token_weights(state, adv, logp_BT, mask_BT, *, prob_threshold=0.0):
  """EntroPIC's weights restricted to high-probability tokens, as per-token weights.

  Tokens with π_θ(y) > prob_threshold get 1 - α (Â > 0) or 1 + α (Â < 0); all others 1. With
  prob_threshold = 0 this equals passing ``entropic_weights(state)`` as pos/neg weights. Use with
  policy_loss(..., token_weights_BT=...) and pos_weight = neg_weight = 1.

  Args:
    state: EntroPICState.
    adv: [B] or [B, T] advantages.
    logp_BT: [B, T] log-probs of the sampled tokens (stop-gradiented).
    mask_BT: [B, T] 1 on response tokens.
    prob_threshold: tokens above this probability are controlled.

  Returns:
    [B, T] float32 token weights, 0 on padding.
  """
  mask_BT = jnp.asarray(mask_BT) > 0
  logp_BT = jax.lax.stop_gradient(jnp.asarray(logp_BT, jnp.float32))
  adv_BT = broadcast_adv(adv, logp_BT.shape)
  pos_weight, neg_weight = entropic_weights(state)
  signed_BT = jnp.where(adv_BT > 0, pos_weight, jnp.where(adv_BT < 0, neg_weight, 1.0))
  weight_BT = jnp.where(jnp.exp(logp_BT) > prob_threshold, signed_BT, 1.0)
  return jnp.where(mask_BT, weight_BT, 0.0)


class Controller(NamedTuple):
  """A controller by parts: init(**hparams) -> state; update(state, entropy, **hparams) -> state;
  value(state) -> its output (a coefficient, or (pos_weight, neg_weight))."""

  init: Callable
  update: Callable
  value: Callable


# Entropy controllers by name.
CONTROLLERS = {
  "adaptive_entropy": Controller(
    init_adaptive_entropy, update_adaptive_entropy, adaptive_entropy_coef
  ),
  "entropy_guided": Controller(init_entropy_guided, update_entropy_guided, entropy_guided_weights),
  "entropic": Controller(init_entropic, update_entropic, entropic_weights),
}
