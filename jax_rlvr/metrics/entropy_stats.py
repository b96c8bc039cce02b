"""Aggregates of per-position token entropies H_t = -Σ_v π(v|·) log π(v|·) computed by the caller.

Shape letters (as in jax_rlvr/__init__.py): B sequences, T positions.

Masks are 0/1 or bool; means are token-level (every masked token counts once, as in the paper's
"mean of H_t over the response tokens of the batch") and NaN when the mask is empty.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def masked_mean(values_BT, mask_BT) -> float:
  """Σ mask·values / Σ mask in float64; masked-out entries may be non-finite; NaN if empty."""
  values_BT = np.asarray(values_BT, np.float64)
  mask_BT = np.broadcast_to(np.asarray(mask_BT) > 0, values_BT.shape)
  count = int(mask_BT.sum())
  return float(np.sum(values_BT, where=mask_BT) / count) if count else float("nan")


def mean_token_entropy(entropy_BT, mask_BT) -> float:
  """Mean entropy over the masked (response) tokens."""
  return masked_mean(entropy_BT, mask_BT)


def entropy_by_advantage_sign(
  entropy_BT, mask_BT, advantages, *, zero_tol: float = 0.0, empty: float = float("nan")
) -> dict:
  """Mean token entropy of tokens with Â > 0, Â < 0 and Â = 0 (|Â| <= zero_tol); jittable.

  `advantages` is [B] (one Â per response, as in GRPO) or [B, T] (per token). Returns float32
  scalars: {"pos", "neg", "zero"} means (`empty` for a group without tokens; the train step logs
  0 there) and {"pos_frac", "neg_frac", "zero_frac"}, the share of masked tokens in each group.
  """
  entropy_BT = jnp.asarray(entropy_BT, jnp.float32)
  mask_BT = jnp.asarray(mask_BT) > 0
  adv = jnp.asarray(advantages, jnp.float32)
  adv_BT = jnp.broadcast_to(adv[:, None] if adv.ndim == 1 else adv, entropy_BT.shape)
  groups = {"pos": adv_BT > zero_tol, "neg": adv_BT < -zero_tol}
  groups["zero"] = ~(groups["pos"] | groups["neg"])
  total = jnp.sum(mask_BT, dtype=jnp.float32)
  out = {}
  for name, in_group_BT in groups.items():
    sel_BT = (mask_BT & in_group_BT).astype(jnp.float32)
    count = jnp.sum(sel_BT)
    mean = jnp.sum(entropy_BT * sel_BT) / jnp.maximum(count, 1.0)
    out[name] = jnp.where(count > 0, mean, empty)
    out[f"{name}_frac"] = jnp.where(total > 0, count / jnp.maximum(total, 1.0), jnp.nan)
  return out


def prompt_entropy(entropy_BT, prompt_mask_BT) -> float:
  """Mean next-token entropy over prompt tokens (the paper's "prompt entropy" on benchmark prompts).

  entropy_BT[b, t] is the entropy of the model's next-token distribution at prompt position t;
  prompt_mask_BT selects the positions to average (the caller decides whether the last prompt
  position, which predicts the first response token, is included).
  """
  return masked_mean(entropy_BT, prompt_mask_BT)
