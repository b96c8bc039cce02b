"""The entropy probe: which tokens move the entropy, measured on one real update.

From one training state (parameters, optimiser state, controllers) and one rollout batch, the probe
applies the GRPO update (`rl_step.update_on_rollout`, N optimiser steps) under variants of the
run's settings, each from the same state: all tokens, positive-Â tokens only, negative-Â tokens
only, and counterfactual λ, N, clipping and ε. For each it measures ΔH, the change of the mean
token entropy over the batch's response positions (the responses held fixed), and the same on a
held-out rollout of other prompts, beside the first-order prediction of the paper's analysis.

First-order prediction. A step δz on the logits at one position changes its entropy by
ΔH ≈ -Cov_{a~π}(log π(a), δz_a). The policy-gradient step of a sampled token y with advantage Â
(ratio 1) moves the logits along δz = η Â (e_y - π), which gives ΔH ≈ -η Â d with the
discriminator of the sampled token

    d = π(y) (log π(y) + H) - Σ_v π(v)² (log π(v) + H),

positive when y is likelier than typical (then Â > 0 lowers the entropy and Â < 0 raises it;
d >= 0 whenever y is the most likely token). The probe's prediction is Σ_t -w_t Â_t d_t over the
tokens a variant trains on (w = λ for Â > 0, 1 for Â < 0), divided by all response tokens: the
change of the batch's mean entropy per unit logit step η if every position's logits moved on their
own. A network with shared parameters and Adam does not move them so; compare the prediction's sign
and its per-token correlation with the measured change (`corr`), not its scale. The prediction is
the same for every N and clip range (it is taken at the rollout state, where the ratio is 1).

Shape letters (as in jax_rlvr/__init__.py): B responses, P prompt tokens, Y response tokens, V,
D, J row chunks, C rows of one chunk. N (as in the variants' "N=4") is the paper's update count.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jax_rlvr import rl_step
from jax_rlvr.models import scoring

SIGNS = ("all", "pos", "neg")

# Counterfactual settings, each run with every sign: name -> RLHyperParams overrides.
# "pos_weight" is λ, the weight of positive-advantage tokens (in the "all" and "pos" signs). The
# clip variants use N = 4: with N = 1 the ratio is 1 and clipping never acts (the paper's three
# factors).
COUNTERFACTUALS = {
  "run": {},
  "pos_weight=0.5": {"pos_weight": 0.5},
  "N=1": {"mini_batches": 1, "epochs": 1},
  "N=2": {"mini_batches": 2, "epochs": 1},
  "N=4": {"mini_batches": 4, "epochs": 1},
  "N=4,clip_free": {"mini_batches": 4, "epochs": 1, "clip": False},
  "N=4,clip_higher": {"mini_batches": 4, "epochs": 1, "eps_high": 0.28},
  "N=4,clip_lower": {"mini_batches": 4, "epochs": 1, "eps_low": 0.28},
  "N=4,clip_tighter": {"mini_batches": 4, "epochs": 1, "eps_low": 0.12},
}


def entropy_discriminator(logits_BYV, tokens_BY, temperature: float = 1.0):
  """(entropy_BY, d_BY, logp_BY) of softmax(logits / temperature): the token entropy H, the sampled
  token's discriminator d = π(y)(log π(y) + H) - Σ_v π(v)²(log π(v) + H) and its log π(y), float32.

  For a logit step δz = η Â (e_y - π) the entropy changes by -η Â d to first order.
  """
  logp_BYV = jax.nn.log_softmax(jnp.asarray(logits_BYV, jnp.float32) / temperature, axis=-1)
  p_BYV = jnp.exp(logp_BYV)
  # Excluded (-inf) logits have π = 0 and contribute nothing; keep their 0·(-inf) out of the sums.
  safe_logp_BYV = jnp.where(p_BYV > 0, logp_BYV, 0.0)
  entropy_BY = scoring.entropy_from_logp(logp_BYV)
  logp_y_BY = jnp.take_along_axis(safe_logp_BYV, tokens_BY[..., None], axis=-1)[..., 0]
  centred_BYV = safe_logp_BYV + entropy_BY[..., None]
  d_BY = jnp.exp(logp_y_BY) * (logp_y_BY + entropy_BY) - jnp.sum(
    p_BYV * p_BYV * centred_BYV, axis=-1
  )
  return entropy_BY, d_BY, logp_y_BY


def token_stats(params, batch, num_chunks: int = 1, *, graphdef, temperature: float = 1.0):
  """(entropy_BY, d_BY, logp_BY) of a batch's response tokens under `params` (entropy, the
  discriminator and log π(y): entropy_discriminator), 0 on padding; computed in
  `num_chunks` forward passes of B / num_chunks rows (the [rows, Y, V] logits of one chunk live).

  batch: a dict with prompt_tokens [B, P], prompt_mask [B, P], response_tokens [B, Y] and
  response_mask [B, Y].
  """

  def one(params, chunk):
    h_BYD = scoring.response_hidden_states(
      nnx.merge(graphdef, params),
      chunk["prompt_tokens"],
      chunk["prompt_mask"],
      chunk["response_tokens"],
      chunk["response_mask"],
    )
    logits_BYV = nnx.merge(graphdef, params).logits(h_BYD)
    stats_BY = entropy_discriminator(logits_BYV, chunk["response_tokens"], temperature)
    valid_BY = chunk["response_mask"] > 0
    return tuple(jnp.where(valid_BY, x_BY, 0.0) for x_BY in stats_BY)

  if num_chunks == 1:
    return one(params, batch)
  B = batch["response_tokens"].shape[0]
  to_chunks = lambda x: x.reshape(num_chunks, B // num_chunks, *x.shape[1:])
  # Parameters enter the loop body as arguments of an inner jit (as in rl_step.score_in_chunks):
  # nnx.remat cannot update Params whose values are tracers of the enclosing trace.
  one_chunk = jax.jit(one)
  stats_JCY = jax.lax.map(lambda chunk: one_chunk(params, chunk), jax.tree.map(to_chunks, batch))
  return tuple(x_JCY.reshape(B, -1) for x_JCY in stats_JCY)


def _batch(rollout):
  return {
    "prompt_tokens": rollout.prompt_tokens_BP,
    "prompt_mask": rollout.prompt_mask_BP,
    "response_tokens": rollout.response_tokens_BY,
    "response_mask": rollout.response_mask_BY,
  }


def variant_hp(hp: rl_step.RLHyperParams, sign: str, batch_size: int, **overrides):
  """The run's settings `hp` with a constant λ schedule training on the tokens of `sign`
  ("all", "pos": Â > 0 only, "neg": Â < 0 only) and `overrides` of RLHyperParams fields
  ("pos_weight" = λ, default 1). The batch must split as a config's would
  (rl_step.batch_split_problem): the micro-batch count U is lowered to the largest that does (the
  record's `micro_batches` says which); a setting no U can split raises ValueError."""
  weight = overrides.pop("pos_weight", 1.0)
  pos_weight, neg_weight = {"all": (weight, 1.0), "pos": (weight, 0.0), "neg": (0.0, 1.0)}[sign]
  hp = hp.replace(
    pos_weight_schedule="constant", pos_weight=pos_weight, neg_weight=neg_weight, **overrides
  )
  for micro in range(hp.micro_batches, 0, -1):
    split = (batch_size, hp.mini_batches, micro, hp.group_size, hp.share_prompts)
    if rl_step.batch_split_problem(*split) is None:
      return hp.replace(micro_batches=micro)
  field, fix = rl_step.batch_split_problem(batch_size, hp.mini_batches, 1, *split[3:])
  raise ValueError(f"Probe setting {overrides} cannot split the batch: rl.{field}: {fix}")


def variants(hp: rl_step.RLHyperParams, batch_size: int, settings=("run",)):
  """[(name, RLHyperParams)]: every sign of every named setting of COUNTERFACTUALS, e.g.
  "N=4,clip_free/neg"."""
  return [
    (f"{setting}/{sign}", variant_hp(hp, sign, batch_size, **COUNTERFACTUALS[setting]))
    for setting in settings
    for sign in SIGNS
  ]


@functools.partial(jax.jit, static_argnames=("graphdef", "optimizer", "hp", "num_chunks"))
def _entropy_after_update(
  params,
  opt_state,
  controllers,
  ref_params,
  rollout,
  rewards_B,
  key,
  heldout_batch,
  sign_weights,
  *,
  graphdef,
  optimizer,
  hp,
  num_chunks,
):
  """Token entropies of the rollout's and the held-out batch's response tokens after one GRPO
  iteration under `hp` with (pos_weight, neg_weight) = `sign_weights` from this state."""
  new_params, _, _, metrics = rl_step.update_on_rollout(
    params,
    opt_state,
    controllers,
    ref_params,
    rollout,
    rewards_B,
    key,
    graphdef=graphdef,
    optimizer=optimizer,
    hp=hp,
    sign_weights=sign_weights,
  )
  stats = functools.partial(token_stats, graphdef=graphdef, temperature=hp.temperature)
  entropy_BY = stats(new_params, _batch(rollout), num_chunks)[0]
  heldout_BY = None
  if heldout_batch is not None:
    heldout_BY = stats(new_params, heldout_batch, num_chunks)[0]
  return entropy_BY, heldout_BY, metrics["grad_norm"]


@functools.partial(jax.jit, static_argnames=("graphdef", "hp", "num_chunks"))
def _before(params, rollout, rewards_B, heldout_batch, *, graphdef, hp, num_chunks):
  stats = functools.partial(token_stats, graphdef=graphdef, temperature=hp.temperature)
  entropy_BY, d_BY, logp_BY = stats(params, _batch(rollout), num_chunks)
  heldout_BY = None if heldout_batch is None else stats(params, heldout_batch, num_chunks)[0]
  return entropy_BY, d_BY, logp_BY, heldout_BY, rl_step.compute_advantages(rewards_B, hp)


def _mean(x_BY, mask_BY):
  return float(np.sum(x_BY * mask_BY) / max(np.sum(mask_BY), 1.0))


def run_probe(
  params,
  opt_state,
  controllers,
  rollout,
  rewards_B,
  key,
  named_hps,
  *,
  graphdef,
  optimizer,
  ref_params=None,
  heldout=None,
  num_chunks: int = 1,
) -> list[dict]:
  """Applies the update of every (name, RLHyperParams) in `named_hps` from the same state and
  returns one record per variant:

    variant, delta_entropy (measured ΔH of the batch's mean token entropy), delta_entropy_heldout
    (on `heldout`, a sampling.SampleOutput of other prompts, if given), delta_entropy_predicted
    (the first-order prediction, module docstring) and its parts over positive / negative tokens,
    corr (Pearson correlation over the trained tokens of the measured and predicted per-token
    ΔH), num_pos_tokens / num_neg_tokens (tokens with Â > 0 / Â < 0 the variant trains on),
    entropy_before, grad_norm, num_updates (the paper's N), micro_batches (U as run), and the
    rollout's `sign_token_stats` (the same in every record).

  Variants with equal settings are computed once. Nothing is donated: the state is unchanged.
  """
  heldout_batch = None if heldout is None else _batch(heldout)
  hp0 = named_hps[0][1]
  entropy_BY, d_BY, logp_BY, heldout_BY, adv_B = jax.device_get(
    _before(
      params, rollout, rewards_B, heldout_batch, graphdef=graphdef, hp=hp0, num_chunks=num_chunks
    )
  )
  mask_BY = np.asarray(jax.device_get(rollout.response_mask_BY), np.float64)
  adv_BY = np.broadcast_to(np.asarray(adv_B, np.float64)[:, None], mask_BY.shape)
  pos_BY, neg_BY = mask_BY * (adv_BY > 0), mask_BY * (adv_BY < 0)
  heldout_mask_BY = None
  if heldout is not None:
    heldout_mask_BY = np.asarray(jax.device_get(heldout.response_mask_BY), np.float64)
  num_tokens = max(mask_BY.sum(), 1.0)
  batch_stats = sign_token_stats(entropy_BY, logp_BY, adv_BY, mask_BY)
  cache, records = {}, []
  for name, hp in named_hps:
    if hp not in cache:
      # The weights enter traced: the variants of one setting share a compilation.
      cache[hp] = jax.device_get(
        _entropy_after_update(
          params,
          opt_state,
          controllers,
          ref_params,
          rollout,
          rewards_B,
          key,
          heldout_batch,
          (hp.pos_weight, hp.neg_weight),
          graphdef=graphdef,
          optimizer=optimizer,
          hp=hp.replace(pos_weight=1.0, neg_weight=1.0),
          num_chunks=num_chunks,
        )
      )
    after_BY, heldout_after_BY, grad_norm = cache[hp]
    # Per-token predicted ΔH·N_tokens/η of the tokens this variant trains on.
    pred_pos_BY = -hp.pos_weight * adv_BY * d_BY * pos_BY
    pred_neg_BY = -hp.neg_weight * adv_BY * d_BY * neg_BY
    trained_BY = pos_BY * (hp.pos_weight > 0) + neg_BY * (hp.neg_weight > 0)
    record = {
      "variant": name,
      "delta_entropy": _mean(after_BY - entropy_BY, mask_BY),
      "delta_entropy_predicted": float(np.sum(pred_pos_BY + pred_neg_BY) / num_tokens),
      "delta_entropy_predicted_pos": float(np.sum(pred_pos_BY) / num_tokens),
      "delta_entropy_predicted_neg": float(np.sum(pred_neg_BY) / num_tokens),
      "corr": _correlation(after_BY - entropy_BY, pred_pos_BY + pred_neg_BY, trained_BY),
      "num_pos_tokens": int(pos_BY.sum()) if hp.pos_weight > 0 else 0,
      "num_neg_tokens": int(neg_BY.sum()) if hp.neg_weight > 0 else 0,
      "entropy_before": _mean(entropy_BY, mask_BY),
      "grad_norm": float(grad_norm),
      "num_updates": hp.mini_batches * hp.epochs,
      "micro_batches": hp.micro_batches,
      **batch_stats,
    }
    if heldout is not None:
      record["delta_entropy_heldout"] = _mean(heldout_after_BY - heldout_BY, heldout_mask_BY)
    records.append(record)
  return records


def sign_token_stats(entropy_BY, logp_BY, adv_BY, mask_BY) -> dict:
  """The rollout's tokens by advantage sign at the rollout state: for s in (pos, neg),
  tokens_s (count), length_s (mean response length of the rows with that sign) and confident_s,
  the fraction of them with log π(y) + H > 0 (y likelier than the position's typical token: the
  tokens a negative update pushes toward higher entropy, a positive one toward lower)."""
  mask_BY = np.asarray(mask_BY, np.float64)
  margin_BY = np.asarray(logp_BY, np.float64) + np.asarray(entropy_BY, np.float64)
  lengths_B = mask_BY.sum(axis=1)
  out = {}
  for sign, rows_B in (("pos", adv_BY[:, 0] > 0), ("neg", adv_BY[:, 0] < 0)):
    sel_BY = mask_BY * rows_B[:, None]
    count = float(sel_BY.sum())
    out[f"tokens_{sign}"] = int(count)
    out[f"length_{sign}"] = float(lengths_B[rows_B].mean()) if rows_B.any() else float("nan")
    out[f"confident_{sign}"] = (
      float(np.sum(sel_BY * (margin_BY > 0)) / count) if count else float("nan")
    )
  return out


def _correlation(x_BY, y_BY, mask_BY) -> float:
  """Pearson correlation of x and y over the masked entries (NaN if fewer than 2 or constant)."""
  sel = mask_BY > 0
  x, y = np.asarray(x_BY, np.float64)[sel], np.asarray(y_BY, np.float64)[sel]
  if x.size < 2 or x.std() == 0 or y.std() == 0:
    return float("nan")
  return float(np.corrcoef(x, y)[0, 1])


def sign_probe_metrics(records: list[dict]) -> dict:
  """The in-training metrics of the sign probe's three records ("*/all", "*/pos", "*/neg")."""
  by_sign = {r["variant"].rsplit("/", 1)[-1]: r for r in records}
  out = {}
  for sign in SIGNS:
    out[f"probe_dH_{sign}"] = by_sign[sign]["delta_entropy"]
    out[f"probe_dH_pred_{sign}"] = by_sign[sign]["delta_entropy_predicted"]
  return out
