"""Independent NumPy (float64) reference implementations of jax_rlvr.rl, mostly explicit loops.

Shape letters: B responses, T response tokens, V vocabulary, G group size.

Gradients are derived by hand (and the hand derivations are themselves checked against central
finite differences in test_numpy_reference.py). Token selections take the uniform priorities as an
input, since NumPy cannot reproduce JAX's PRNG; the tests pass jax.random.uniform(key, shape).
"""

import math

import numpy as np

# -------------------------------------------------------------------------------------------------
# Advantages.


def grpo_advantages(rewards, group_size, std_normalize=True, eps=1e-6, ddof=1):
  rewards = np.asarray(rewards, np.float64)
  out = np.zeros_like(rewards)
  for start in range(0, len(rewards), group_size):
    group = rewards[start : start + group_size]
    if np.all(group == group[0]):
      continue
    adv = group - group.mean()
    if std_normalize:
      adv = adv / (np.std(group, ddof=ddof) + eps)
    out[start : start + group_size] = adv
  return out


def rloo_advantages(rewards, group_size):
  rewards = np.asarray(rewards, np.float64)
  out = np.zeros_like(rewards)
  for start in range(0, len(rewards), group_size):
    group = rewards[start : start + group_size]
    if np.all(group == group[0]):
      continue
    for i in range(group_size):
      others = [group[j] for j in range(group_size) if j != i]
      out[start + i] = group[i] - sum(others) / len(others)
  return out


# -------------------------------------------------------------------------------------------------
# Aggregation: every mode is linear in the per-token values, so it is a coefficient matrix.


def agg_coefficients(mask, agg, normaliser=None):
  """C [B, T] with aggregate(values) = Σ C * values."""
  mask = np.asarray(mask, np.float64) > 0
  b, t = mask.shape
  coef = np.zeros((b, t))
  if agg == "token-mean":
    denom = mask.sum() if normaliser is None else normaliser
    denom = max(denom, 1)
    for i in range(b):
      for j in range(t):
        if mask[i, j]:
          coef[i, j] = 1.0 / denom
  elif agg == "seq-mean-token-mean":
    nonempty = [i for i in range(b) if mask[i].any()]
    denom = max(len(nonempty) if normaliser is None else normaliser, 1)
    for i in nonempty:
      n_i = mask[i].sum()
      for j in range(t):
        if mask[i, j]:
          coef[i, j] = 1.0 / (n_i * denom)
  elif agg == "seq-mean-token-sum-norm":
    coef = mask / ((b if normaliser is None else normaliser) * t)
  else:
    raise ValueError(agg)
  return coef


def aggregate(values, mask, agg, normaliser=None):
  values = np.where(np.asarray(mask) > 0, np.asarray(values, np.float64), 0.0)
  return float(np.sum(agg_coefficients(mask, agg, normaliser) * values))


# -------------------------------------------------------------------------------------------------
# Policy loss.


def _token_surrogate(logp, old_logp, a, eps_low, eps_high, clip, dual_c):
  """(objective, d objective / d logp, clipped_low, clipped_high, dual_clipped) for one token."""
  r = math.exp(logp - old_logp)
  if clip:
    r_clipped = min(max(r, 1.0 - eps_low), 1.0 + eps_high)
    obj = min(r * a, r_clipped * a)
  else:
    obj = r * a
  if dual_c is not None and a < 0:
    obj = max(obj, dual_c * a)
  clipped_high = clip and a > 0 and r > 1.0 + eps_high
  clipped_low = clip and a < 0 and r < 1.0 - eps_low
  dual = dual_c is not None and a < 0 and r > dual_c
  # d(r·a)/d logp = r·a; the clipped and dual-clipped branches are constants.
  grad = 0.0 if (clipped_high or clipped_low or dual) else r * a
  return obj, grad, clipped_low, clipped_high, dual


def policy_loss(
  logp,
  old_logp,
  adv,
  mask,
  eps_low=0.2,
  eps_high=0.2,
  clip=True,
  dual_c=None,
  pos_weight=1.0,
  neg_weight=1.0,
  token_weights=None,
  agg="token-mean",
  normaliser=None,
):
  """Returns (loss, d loss / d logp [B, T], metrics)."""
  logp = np.asarray(logp, np.float64)
  old_logp = np.asarray(old_logp, np.float64)
  mask = np.asarray(mask) > 0
  adv = np.asarray(adv, np.float64)
  if adv.ndim == 1:
    adv = np.repeat(adv[:, None], logp.shape[1], axis=1)
  b, t = logp.shape
  terms = np.zeros((b, t))
  dterms = np.zeros((b, t))
  counts = dict(low=0, high=0, dual=0, pos=0, neg=0, zero=0)
  ratios, kls = [], []
  for i in range(b):
    for j in range(t):
      if not mask[i, j]:
        continue
      a = adv[i, j]
      obj, grad, low, high, dual = _token_surrogate(
        logp[i, j], old_logp[i, j], a, eps_low, eps_high, clip, dual_c
      )
      w = pos_weight if a > 0 else (neg_weight if a < 0 else 1.0)
      if token_weights is not None:
        w *= token_weights[i, j]
      terms[i, j] = w * obj
      dterms[i, j] = w * grad
      counts["low"] += low
      counts["high"] += high
      counts["dual"] += dual
      counts["pos"] += a > 0
      counts["neg"] += a < 0
      counts["zero"] += a == 0
      r = math.exp(logp[i, j] - old_logp[i, j])
      ratios.append(r)
      kls.append(r - 1.0 - math.log(r))
  coef = agg_coefficients(mask, agg, normaliser)
  loss = -float(np.sum(coef * terms))
  grad = -coef * dterms
  n = max(len(ratios), 1)
  metrics = {
    "clip_frac_low": counts["low"] / n,
    "clip_frac_high": counts["high"] / n,
    "dual_clip_frac": counts["dual"] / n,
    "adv_pos_frac": counts["pos"] / n,
    "adv_neg_frac": counts["neg"] / n,
    "adv_zero_frac": counts["zero"] / n,
    "approx_kl": sum(kls) / n,
    "ratio_mean": sum(ratios) / n,
    "ratio_max": max(ratios) if ratios else 0.0,
    "ratio_min": min(ratios) if ratios else 0.0,
  }
  return loss, grad, metrics


# -------------------------------------------------------------------------------------------------
# KL estimators: value and d / d logp, with d = logp - ref_logp.


def kl_estimate(logp, ref_logp, estimator):
  d = np.asarray(logp, np.float64) - np.asarray(ref_logp, np.float64)
  k1, dk1 = d, np.ones_like(d)
  k2, dk2 = 0.5 * d * d, d
  k3, dk3 = np.exp(-d) - 1.0 + d, 1.0 - np.exp(-d)
  return {
    "k1": (k1, dk1),
    "k2": (k2, dk2),
    "k3": (k3, dk3),
    "k1+": (k1, dk2),
    "k3+": (k3, dk2),
  }[estimator]


# -------------------------------------------------------------------------------------------------
# Entropy.


def entropy(logits):
  """Returns (H [...], dH / dlogits [..., V]) with dH/dz_j = -π_j (log π_j + H)."""
  z = np.asarray(logits, np.float64)
  z = z - z.max(axis=-1, keepdims=True)
  p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
  logp = np.log(p)
  h = -(p * logp).sum(axis=-1)
  return h, -p * (logp + h[..., None])


# -------------------------------------------------------------------------------------------------
# Token selections (flat row-major order breaks ties).


def _budget(fraction, n):
  return max(1, int(math.floor(fraction * n)))


def token_covariance(logp, adv, mask):
  logp = np.asarray(logp, np.float64)
  mask = np.asarray(mask) > 0
  adv = np.asarray(adv, np.float64)
  if adv.ndim == 1:
    adv = np.repeat(adv[:, None], logp.shape[1], axis=1)
  valid = list(zip(*np.nonzero(mask), strict=True))
  mean_a = sum(adv[i, j] for i, j in valid) / len(valid)
  mean_l = sum(logp[i, j] for i, j in valid) / len(valid)
  cov = np.zeros(logp.shape)
  for i, j in valid:
    cov[i, j] = (adv[i, j] - mean_a) * (logp[i, j] - mean_l)
  return cov


def _pick(candidates, sort_key, count):
  """The `count` candidates (i, j) with the smallest sort_key, ties by flat position."""
  ordered = sorted(candidates, key=lambda ij: (sort_key(ij), ij))
  return set(ordered[:count])


def _weights(mask, detached):
  mask = np.asarray(mask) > 0
  w = mask.astype(np.float64)
  for i, j in detached:
    w[i, j] = 0.0
  return w


def clip_cov_weights(
  uniform,
  logp,
  adv,
  mask,
  clip_ratio,
  cov_lb,
  cov_ub,
  old_logp=None,
  eps_low=0.2,
  eps_high=0.2,
):
  mask = np.asarray(mask) > 0
  adv = np.asarray(adv, np.float64)
  if adv.ndim == 1:
    adv = np.repeat(adv[:, None], mask.shape[1], axis=1)
  cov = token_covariance(logp, adv, mask)
  candidates = []
  for i, j in zip(*np.nonzero(mask), strict=True):
    if not cov_lb < cov[i, j] < cov_ub:
      continue
    if old_logp is not None:
      r = math.exp(logp[i, j] - old_logp[i, j])
      if (adv[i, j] > 0 and r > 1 + eps_high) or (adv[i, j] < 0 and r < 1 - eps_low):
        continue
    candidates.append((i, j))
  count = _budget(clip_ratio, mask.sum())
  return _weights(mask, _pick(candidates, lambda ij: uniform[ij], count))


def kl_cov_selection(logp, adv, mask, kl_ratio):
  mask = np.asarray(mask) > 0
  cov = token_covariance(logp, adv, mask)
  valid = list(zip(*np.nonzero(mask), strict=True))
  chosen = _pick(valid, lambda ij: -cov[ij], _budget(kl_ratio, len(valid)))
  sel = np.zeros(mask.shape)
  for ij in chosen:
    sel[ij] = 1.0
  return sel


def kl_cov_loss(logp, old_logp, adv, mask, kl_ratio, beta, agg="token-mean"):
  """Returns (loss, d loss / d logp)."""
  sel = kl_cov_selection(logp, adv, mask, kl_ratio)
  d = np.asarray(logp, np.float64) - np.asarray(old_logp, np.float64)
  d = np.where(np.abs(d) > 1e-4, d, 0.0)  # the on-policy kink's rounding tolerance
  coef = agg_coefficients(mask, agg)
  return float(np.sum(coef * beta * np.abs(d) * sel)), coef * beta * np.sign(d) * sel


def rand_pos_clip_weights(uniform, adv, mask, fraction):
  mask = np.asarray(mask) > 0
  adv = np.asarray(adv, np.float64)
  if adv.ndim == 1:
    adv = np.repeat(adv[:, None], mask.shape[1], axis=1)
  candidates = [(i, j) for i, j in zip(*np.nonzero(mask), strict=True) if adv[i, j] > 0]
  if not candidates:
    return _weights(mask, set())
  count = _budget(fraction, len(candidates))
  return _weights(mask, _pick(candidates, lambda ij: uniform[ij], count))


def top_entropy_weights(ent, mask, top_frac):
  mask = np.asarray(mask) > 0
  valid = list(zip(*np.nonzero(mask), strict=True))
  chosen = _pick(valid, lambda ij: -ent[ij], _budget(top_frac, len(valid)))
  w = np.zeros(mask.shape)
  for ij in chosen:
    w[ij] = 1.0
  return w


def entropy_advantage(adv, ent, alpha, kappa):
  ent = np.asarray(ent, np.float64)
  adv = np.asarray(adv, np.float64)
  if adv.ndim == 1:
    adv = np.repeat(adv[:, None], ent.shape[1], axis=1)
  out = np.zeros(ent.shape)
  for i in range(ent.shape[0]):
    for j in range(ent.shape[1]):
      out[i, j] = adv[i, j] + min(alpha * ent[i, j], abs(adv[i, j]) / kappa)
  return out


# -------------------------------------------------------------------------------------------------
# Schedules and controllers (Python scalars, one step at a time).


def stage_pos_weight(step, total_steps):
  half = (total_steps - 1) / 2
  if step <= half:
    return 0.0
  return min((step - half) / half, 1.0)


def epoch_pos_weight(step, total_steps, num_epochs):
  epoch = min(step // (total_steps // num_epochs) + 1, num_epochs)
  return (epoch - 1) / (num_epochs - 1)


def adaptive_entropy_coefs(entropies, coef0, target, step):
  coefs, coef = [], coef0
  for h in entropies:
    coef = coef + step if h < target else coef - step
    coef = max(coef, 0.0)
    coefs.append(coef)
  return coefs


def entropy_guided_pos_weights(entropies, weight0, target, delta):
  weights, weight = [], weight0
  for h in entropies:
    weight = weight - delta if h < target else weight + delta
    weight = min(max(weight, 0.0), 1.0)
    weights.append(weight)
  return weights


def entropic_alphas(entropies, target, kp, ki, alpha_max):
  alphas, integral = [], 0.0
  for h in entropies:
    e = target - h
    integral += e
    if ki > 0:
      integral = min(max(integral, -alpha_max / ki), alpha_max / ki)
    alphas.append(min(max(kp * e + ki * integral, -alpha_max), alpha_max))
  return alphas
