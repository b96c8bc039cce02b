"""One GRPO iteration's device work: advantages, old log-probs, gradient steps, controllers.

Everything here runs inside one jit (`train.rl_update`). The config is reduced to a hashable
`RLHyperParams` so that methods are chosen statically by name, through the registries of
`rl.entropy_terms`, `rl.token_masks` and `rl.controllers`; λ and entropy coefficients that change
every step are traced scalars held in `rl.controllers.Controllers` (checkpointed with the train
state).

Shape letters (as in jax_rlvr/__init__.py): G samples per prompt, B = Q·G responses (Q prompts),
P prompt tokens, Y response tokens, T, M responses per mini-batch, U micro-batches per mini-batch,
R = M / U responses per micro-batch, J row chunks of a forward pass.

Gradient accumulation (`rl.micro_batches` = U): each of the mini_batches × epochs gradient steps
(the paper's N) sums the gradients of U micro-batches of its mini-batch before its one optimiser
update, so the step count and the update are unchanged; only the rows in one forward/backward
pass shrink. Every loss term is normalised by its whole mini-batch (`losses.agg_normaliser`), so
the summed gradient is the mini-batch's gradient in every aggregation mode, and the metrics are
recombined to the mini-batch's values.

Token selection (Clip-Cov, KL-Cov, Rand-Pos-Clip, top-entropy) ranks or draws over the whole
mini-batch: with U > 1, one forward pass without gradient over the mini-batch (in U chunks of a
micro-batch's rows, under the step's parameters) gives the log-probs and entropies the selection
reads, the selection runs once on the [M, Y] arrays with one key per mini-batch, and each
micro-batch takes its rows of it. With U = 1 the selection reads the gradient pass's own forward.
So U and the mesh change only rounding; the price is one extra forward pass per optimiser step
when U > 1 (none for Rand-Pos-Clip, which reads only the advantages).
The old log-probs and the rollout entropy (which the controllers see) do not depend on U: they
are computed row by row, in chunks of R rows, or (`rl.old_logp = "sampler"`) taken from the
sampler, which computed the same per-token values while decoding.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from jax_rlvr import compile_options, sharding
from jax_rlvr.metrics import entropy_stats
from jax_rlvr.models import scoring
from jax_rlvr.rl import advantages as advantages_lib
from jax_rlvr.rl import controllers as controllers_lib
from jax_rlvr.rl import entropy_terms, losses, token_masks
from jax_rlvr.rl import kl as kl_lib

# Fields of config.rl that only the host reads (the train loop's probe cadence, its padding of the
# rollout); kept out of RLHyperParams so that changing them does not recompile the update.
HOST_ONLY_RL_FIELDS = ("probe_every", "pad_bucket")


@dataclasses.dataclass(frozen=True)
class RLHyperParams:
  """The static part of a config the update needs on device: config.rl's fields (those in
  HOST_ONLY_RL_FIELDS aside; configs/common.py documents each) and four of the rest. Hashable,
  so methods are chosen statically by name and the jitted update is keyed by it."""

  # From config.rollout, config.model and config.num_steps.
  group_size: int  # G
  temperature: float
  logprob_chunk_size: int | None
  total_rl_steps: int
  # config.rl: advantages and the clipped loss.
  advantage: str
  std_ddof: int
  loss_agg: str
  eps_low: float
  eps_high: float
  clip: bool
  dual_clip_c: float
  # N = mini_batches × epochs gradient steps, each over micro_batches passes.
  mini_batches: int
  epochs: int
  micro_batches: int
  old_logp: str
  share_prompts: bool
  # λ and its schedules, the controllers' δ, Δ and gains.
  pos_weight_schedule: str
  pos_weight: float
  neg_weight: float
  pos_weight_init: float
  pos_weight_epochs: int
  entropy_target: float
  pos_weight_step: float
  pi_kp: float
  pi_ki: float
  controller_reads: str
  # Entropy-control methods.
  method: str
  entropy_coef: float
  entropy_coef_step: float
  cov_fraction: float
  cov_bounds: tuple[float, float]
  kl_cov_beta: float
  entropy_adv_alpha: float
  entropy_adv_kappa: float
  rand_pos_clip_fraction: float
  top_entropy_fraction: float
  kl_coef: float
  kl_estimator: str

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> RLHyperParams:
    own = {f.name for f in dataclasses.fields(cls)}
    rl = {k: v for k, v in config.rl.items() if k not in HOST_ONLY_RL_FIELDS}
    unknown = sorted(set(rl) - own)
    if unknown:
      # A new config.rl field must be declared here (or in HOST_ONLY_RL_FIELDS) to reach the update.
      raise ValueError(f"config.rl fields {unknown} are not RLHyperParams fields nor host-only.")
    return cls(
      group_size=config.rollout.group_size,
      temperature=config.rollout.temperature,
      logprob_chunk_size=config.model.logprob_chunk_size or None,
      total_rl_steps=config.num_steps,
      **{k: tuple(v) if isinstance(v, list | tuple) else v for k, v in rl.items()},
    )

  def replace(self, **overrides) -> RLHyperParams:
    """A copy with the given fields replaced."""
    return dataclasses.replace(self, **overrides)


def batch_split_problem(
  batch: int, mini_batches: int, micro_batches: int, group_size: int, share_prompts: bool
) -> tuple[str, str] | None:
  """(config.rl field, fix) of the first way a rollout of `batch` responses fails to split into
  mini_batches gradient steps of micro_batches passes each, or None when it splits. One rule for
  a config (config_validation) and for the probe's counterfactual settings."""
  if batch % mini_batches:
    return "mini_batches", (
      f"the rollout batch of {batch} responses must split evenly into mini-batches."
    )
  M = batch // mini_batches
  if M % micro_batches:
    return "micro_batches", (
      f"each mini-batch of {M} responses must split evenly into micro-batches; change "
      "rl.micro_batches or rl.mini_batches."
    )
  R = M // micro_batches
  if share_prompts and R % group_size:
    return "share_prompts", (
      f"micro-batches of {R} responses do not hold whole groups of G = {group_size}; lower "
      "rl.micro_batches or rl.mini_batches, or set rl.share_prompts=False."
    )
  return None


def select_tokens(hp: RLHyperParams, key, batch: token_masks.TokenBatch):
  """The token-selecting method's selection on the batch passed in, [B, T] float32 (None for the
  methods that select nothing): token weights, or the tokens its penalty acts on."""
  method = token_masks.TOKEN_METHODS.get(hp.method)
  return None if method is None else method.select(key, batch, hp)


def score(params, batch, *, graphdef, hp: RLHyperParams, group_size: int = 1):
  """(logp_BY, entropy_BY) of the batch's response tokens under `params`, one forward pass.

  Like veRL, log-probs, ratios and entropies use the rollout temperature (the paper samples at
  1.0, where this is the plain policy). `group_size` G > 1: every G consecutive rows share their
  prompt, computed once (scoring.response_logprobs).
  """
  return scoring.response_logprobs(
    nnx.merge(graphdef, params),
    batch["prompt_tokens"],
    batch["prompt_mask"],
    batch["response_tokens"],
    batch["response_mask"],
    temperature=hp.temperature,
    chunk_size=hp.logprob_chunk_size,
    group_size=group_size,
  )


def _rows_sharded(batch):
  """Every [rows, ...] array pinned to rows over data × fsdp (while a mesh is set)."""
  return jax.tree.map(lambda x: sharding.constrain(x, ("batch",) + (None,) * (x.ndim - 1)), batch)


def score_in_chunks(params, batch, num_chunks: int, *, graphdef, hp: RLHyperParams):
  """`score` of a [B, ...] batch in `num_chunks` forward passes of B / num_chunks rows each.

  Chunk j holds rows j, j + J, ... (any split gives the same values: rows are independent).
  """
  if num_chunks == 1:
    return score(params, batch, graphdef=graphdef, hp=hp)
  B = batch["response_tokens"].shape[0]
  to_chunks = lambda x: x.reshape(B // num_chunks, num_chunks, *x.shape[1:]).swapaxes(0, 1)
  from_chunks = lambda x_JRY: x_JRY.swapaxes(0, 1).reshape(B, *x_JRY.shape[2:])
  # Parameters enter the loop body as arguments of an inner jit: nnx.remat in the policy cannot
  # update Params whose values are tracers of the enclosing trace (TraceContextError).
  score_chunk = jax.jit(lambda p, chunk: score(p, _rows_sharded(chunk), graphdef=graphdef, hp=hp))
  logp_JRY, entropy_JRY = jax.lax.map(
    lambda chunk: score_chunk(params, chunk), jax.tree.map(to_chunks, batch)
  )
  return from_chunks(logp_JRY), from_chunks(entropy_JRY)


def _minibatch_selection(params, mini, key, *, graphdef, hp: RLHyperParams):
  """`select_tokens` on a whole mini-batch (a dict of [M, ...] arrays), scored under `params` in
  U chunks of a micro-batch's rows, without gradient. A method that reads only the advantages
  (Rand-Pos-Clip) needs no forward pass."""
  if not token_masks.TOKEN_METHODS[hp.method].reads_policy:
    logp_MY = entropy_MY = jnp.zeros(mini["response_mask"].shape, jnp.float32)
  else:
    logp_MY, entropy_MY = jax.lax.stop_gradient(
      score_in_chunks(params, mini, hp.micro_batches, graphdef=graphdef, hp=hp)
    )
  token_batch = token_masks.TokenBatch(
    logp_BT=logp_MY,
    old_logp_BT=mini["old_logp"],
    adv_BT=mini["adv"],
    entropy_BT=entropy_MY,
    mask_BT=mini["response_mask"],
  )
  return select_tokens(hp, key, token_batch)


def minibatch_loss(params, mb, weights, key, normaliser=None, *, graphdef, hp: RLHyperParams):
  """Loss of one mini-batch (a dict of [M, ...] arrays) and its metrics.

  `normaliser`: the aggregation's denominator (`losses.agg_normaliser`) when `mb` is a
  micro-batch of a larger mini-batch; by default `mb`'s own. Likewise `mb["selected"]`, if
  present, is the masking method's selection made on the whole mini-batch (`select_tokens`);
  without it the selection is made on `mb` with `key`.
  """
  group_size = hp.group_size if hp.share_prompts else 1
  logp_MY, entropy_MY = score(params, mb, graphdef=graphdef, hp=hp, group_size=group_size)
  mask_MY = mb["response_mask"]
  pos_weight, neg_weight, entropy_coef = weights
  adv = mb["adv"]
  if hp.method in entropy_terms.ADVANTAGE_SHAPERS:
    adv = entropy_terms.ADVANTAGE_SHAPERS[hp.method](adv, entropy_MY, hp)
  token_batch = token_masks.TokenBatch(
    logp_BT=jax.lax.stop_gradient(logp_MY),
    old_logp_BT=mb["old_logp"],
    adv_BT=adv,
    entropy_BT=jax.lax.stop_gradient(entropy_MY),
    mask_BT=mask_MY,
  )
  selected = mb["selected"] if "selected" in mb else select_tokens(hp, key, token_batch)
  token_method = token_masks.TOKEN_METHODS.get(hp.method)
  penalty = None if token_method is None else token_method.penalty
  token_weights = selected if penalty is None else None
  loss, metrics = losses.policy_loss(
    logp_MY,
    mb["old_logp"],
    adv,
    mask_MY,
    eps_low=hp.eps_low,
    eps_high=hp.eps_high,
    clip=hp.clip,
    dual_clip_c=hp.dual_clip_c or None,
    pos_weight=pos_weight,
    neg_weight=neg_weight,
    token_weights_BT=token_weights,
    agg=hp.loss_agg,
    normaliser=normaliser,
  )
  metrics = dict(metrics, pg_loss=loss)
  if hp.method in controllers_lib.ENTROPY_COEFS:
    bonus = entropy_terms.entropy_bonus_loss(
      entropy_MY, mask_MY, entropy_coef, agg=hp.loss_agg, normaliser=normaliser
    )
    loss, metrics["entropy_bonus_loss"] = loss + bonus, bonus
  if penalty is not None:
    term = penalty(logp_MY, token_batch, selected, hp, hp.loss_agg, normaliser)
    loss, metrics[f"{hp.method}_loss"] = loss + term, term
  if hp.kl_coef > 0:
    kl = kl_lib.kl_loss(
      logp_MY,
      mb["ref_logp"],
      mask_MY,
      estimator=hp.kl_estimator,
      agg=hp.loss_agg,
      normaliser=normaliser,
    )
    loss, metrics["ref_kl"] = loss + hp.kl_coef * kl, kl
  if token_weights is not None:
    detached = jnp.sum((token_weights == 0) & (mask_MY > 0))
    metrics["detached_frac"] = detached / jnp.maximum(jnp.sum(mask_MY > 0), 1)
  metrics["loss"] = loss
  return loss, metrics


# Metrics of minibatch_loss that are loss terms ("loss", "ref_kl" and every "<name>_loss"):
# normalised by the whole mini-batch, so the micro-batches' values add up. The others are means or
# fractions over the micro-batch's tokens.
def _is_loss_metric(name: str) -> bool:
  return name in ("loss", "ref_kl") or name.endswith("_loss")


def combine_micro_metrics(metrics_U: dict, num_tokens_U: jax.Array) -> dict:
  """The metrics of a mini-batch from those of its U micro-batches ([U] arrays each) and their
  response-token counts: loss terms add up, ratio extremes take the extreme over micro-batches
  with tokens, and token means are weighted by the micro-batches' token counts."""
  has_tokens_U = num_tokens_U > 0
  out = {}
  for name, value_U in metrics_U.items():
    if _is_loss_metric(name):
      out[name] = jnp.sum(value_U)
    elif name == "ratio_max":
      out[name] = jnp.max(jnp.where(has_tokens_U, value_U, 0.0))
    elif name == "ratio_min":
      low = jnp.min(jnp.where(has_tokens_U, value_U, jnp.inf))
      out[name] = jnp.where(jnp.any(has_tokens_U), low, 0.0)
    else:
      out[name] = jnp.sum(value_U * num_tokens_U) / jnp.maximum(jnp.sum(num_tokens_U), 1.0)
  return out


def _masked_mean(x_BY, mask_BY):
  mask_BY = mask_BY.astype(jnp.float32)
  return jnp.sum(x_BY * mask_BY) / jnp.maximum(jnp.sum(mask_BY), 1.0)


def compute_advantages(rewards_B, hp: RLHyperParams):
  """[B] advantages Â of the configured estimator (one per response, groups of G rows)."""
  adv_fn = advantages_lib.ADVANTAGE_FNS[hp.advantage]
  if hp.advantage == "grpo":
    return adv_fn(rewards_B, hp.group_size, ddof=hp.std_ddof)
  return adv_fn(rewards_B, hp.group_size)


def update_on_rollout(
  params,
  opt_state,
  controllers,
  ref_params,
  rollout,
  rewards_B,
  key,
  *,
  graphdef,
  optimizer,
  hp: RLHyperParams,
  sign_weights=None,
):
  """Takes mini_batches × epochs gradient steps (the paper's N) on one rollout batch, each summing
  the gradients of micro_batches micro-batches (see the module docstring).

  sign_weights: optional (pos_weight, neg_weight) scalars, traced, replacing the λ schedule's
  (the entropy probe trains on one advantage sign at a time without recompiling).

  rollout: a sampling.SampleOutput (prompt_*_BP, response_*_BY, policy_logp_BY, entropy_BY).
  Returns (params, opt_state, controllers, metrics); metrics are means over the steps, except
  rollout statistics (entropy, advantages, log-prob mismatch) which describe the rollout batch.
  Three entropies of the rollout's response tokens are logged: `entropy`, the trainer's (the old
  policy at the rollout temperature, untruncated: what the controllers see and the figures plot;
  with old_logp = "sampler" the sampler's same values), `entropy_policy`, the sampler's plain
  policy (temperature 1, full vocabulary), and `entropy_sampled`, the distribution actually
  sampled (after temperature, top-k, top-p). With old_logp = "recompute", `logp_mismatch` and
  `logp_mismatch_max` are the mean and max |Δ log p| of sampler and trainer over response tokens.
  """
  adv_B = compute_advantages(rewards_B, hp)
  batch, entropy_BY = _scored_batch(params, ref_params, rollout, adv_B, graphdef=graphdef, hp=hp)
  rollout_entropy = _masked_mean(entropy_BY, batch["response_mask"])
  controllers, weights = controllers_lib.advance_controllers(controllers, rollout_entropy, hp)
  if sign_weights is not None:
    weights = (*(jnp.asarray(w, jnp.float32) for w in sign_weights), weights[2])

  step_rows = _step_rows(key, rewards_B.shape[0], hp)
  step_keys = jax.random.split(jax.random.fold_in(key, 1), step_rows.shape[0])
  one_step = functools.partial(
    _gradient_step, batch=batch, weights=weights, graphdef=graphdef, optimizer=optimizer, hp=hp
  )
  (params, opt_state), step_metrics = jax.lax.scan(
    one_step, (params, opt_state), (step_rows, step_keys)
  )
  metrics = jax.tree.map(jnp.mean, step_metrics)
  metrics["ratio_max"] = jnp.max(step_metrics["ratio_max"])
  metrics["num_updates"] = jnp.float32(step_rows.shape[0])
  metrics.update(_rollout_metrics(rollout, rewards_B, batch, entropy_BY, weights, hp))
  return params, opt_state, controllers, metrics


def _scored_batch(params, ref_params, rollout, adv_B, *, graphdef, hp: RLHyperParams):
  """The update's batch (tokens, masks, advantages, old and reference log-probs) and the old
  policy's entropies entropy_BY."""
  batch = {
    "prompt_tokens": rollout.prompt_tokens_BP,
    "prompt_mask": rollout.prompt_mask_BP,
    "response_tokens": rollout.response_tokens_BY,
    "response_mask": rollout.response_mask_BY,
    "adv": adv_B,
  }
  scored = functools.partial(
    score_in_chunks, num_chunks=hp.mini_batches * hp.micro_batches, graphdef=graphdef, hp=hp
  )
  if hp.old_logp == "sampler":
    # The sampler's per-token log-probs and entropies at temperature 1 without truncation
    # (config_validation enforces both): the same distribution as a forward pass of the policy
    # that sampled, so the pass (a quarter of the update's FLOPs) is skipped.
    old_logp_BY, entropy_BY = rollout.policy_logp_BY, rollout.entropy_BY
  else:
    # A forward pass of the policy that sampled, in chunks of a micro-batch's rows.
    old_logp_BY, entropy_BY = jax.lax.stop_gradient(scored(params, batch))
  batch["old_logp"] = old_logp_BY
  if hp.kl_coef > 0:
    ref_logp_BY, _ = scored(ref_params, batch)
    batch["ref_logp"] = jax.lax.stop_gradient(ref_logp_BY)
  return batch, entropy_BY


def _step_rows(key, B: int, hp: RLHyperParams):
  """[epochs · mini_batches, M]: the rows of each gradient step, a fresh order per epoch."""
  perm_keys = jax.random.split(jax.random.fold_in(key, 0), hp.epochs)
  if hp.share_prompts:
    # Whole groups in a random order, their G rows kept together, so that every micro-batch
    # holds whole groups whose rows share one prompt computation.
    G = hp.group_size
    orders = [
      (jax.random.permutation(k, B // G)[:, None] * G + jnp.arange(G)).reshape(B) for k in perm_keys
    ]
  else:
    orders = [jax.random.permutation(k, B) for k in perm_keys]
  return jnp.concatenate(orders).reshape(hp.epochs * hp.mini_batches, B // hp.mini_batches)


def _gradient_step(carry, xs, *, batch, weights, graphdef, optimizer, hp: RLHyperParams):
  """One optimiser step on the mini-batch of rows rows_M, its gradient summed over U
  micro-batches (a `lax.scan` body: carry = (params, opt_state), xs = (rows_M, step_key))."""
  params, opt_state = carry
  rows_M, step_key = xs
  U = hp.micro_batches
  M = rows_M.shape[0]
  mini = jax.tree.map(lambda x: x[rows_M], batch)
  normaliser = losses.agg_normaliser(mini["response_mask"], hp.loss_agg)
  if U > 1 and hp.method in token_masks.TOKEN_METHODS:
    mini["selected"] = _minibatch_selection(params, mini, step_key, graphdef=graphdef, hp=hp)
  grad_fn = jax.value_and_grad(minibatch_loss, has_aux=True)

  def micro_step(grads, rows_R):
    mb = _rows_sharded(jax.tree.map(lambda x: x[rows_R], mini))
    (_, metrics), micro_grads = grad_fn(
      params, mb, weights, step_key, normaliser, graphdef=graphdef, hp=hp
    )
    metrics["num_tokens"] = jnp.sum(mb["response_mask"] > 0, dtype=jnp.float32)
    return jax.tree.map(jnp.add, grads, micro_grads), metrics

  # Micro-batch u holds rows u, u + U, ... of the mini-batch (the chunks of score_in_chunks);
  # with shared prompts, a contiguous block of whole groups.
  if hp.share_prompts:
    rows_UR = jnp.arange(M).reshape(U, M // U)
  else:
    rows_UR = jnp.arange(M).reshape(M // U, U).T
  grads, metrics_U = jax.lax.scan(micro_step, jax.tree.map(jnp.zeros_like, params), rows_UR)
  metrics = combine_micro_metrics(metrics_U, metrics_U.pop("num_tokens"))
  updates, opt_state = optimizer.update(grads, opt_state, params)
  params = optax.apply_updates(params, updates)
  metrics["grad_norm"] = optax.tree.norm(grads)
  return (params, opt_state), metrics


def _rollout_metrics(rollout, rewards_B, batch, entropy_BY, weights, hp: RLHyperParams) -> dict:
  """Statistics of the rollout batch: rewards, the three entropies, the weights in use and, with
  old_logp = "recompute", the sampler-trainer log-prob gap."""
  mask_BY, adv_B = batch["response_mask"], batch["adv"]
  by_sign = entropy_stats.entropy_by_advantage_sign(entropy_BY, mask_BY, adv_B, empty=0.0)
  pos_weight, neg_weight, entropy_coef = weights
  metrics = dict(
    reward_mean=jnp.mean(rewards_B),
    accuracy=jnp.mean((rewards_B > 0.5).astype(jnp.float32)),
    entropy=_masked_mean(entropy_BY, mask_BY),
    entropy_policy=_masked_mean(rollout.entropy_BY, mask_BY),
    entropy_sampled=_masked_mean(rollout.sample_entropy_BY, mask_BY),
    entropy_pos_adv=by_sign["pos"],
    entropy_neg_adv=by_sign["neg"],
    pos_weight=pos_weight,
    neg_weight=neg_weight,
    entropy_coef=entropy_coef,
    adv_abs_mean=jnp.mean(jnp.abs(adv_B)),
    response_length=jnp.mean(jnp.sum(mask_BY, axis=1).astype(jnp.float32)),
  )
  if hp.old_logp == "recompute":
    # The sampler's log-probs vs the trainer's forward pass of the same parameters (at T = 1
    # without truncation the two describe the same distribution).
    sampler_logp_BY = rollout.policy_logp_BY if hp.temperature == 1.0 else rollout.sample_logp_BY
    gap_BY = jnp.where(mask_BY > 0, jnp.abs(sampler_logp_BY - batch["old_logp"]), 0.0)
    metrics["logp_mismatch"] = _masked_mean(gap_BY, mask_BY)
    metrics["logp_mismatch_max"] = jnp.max(gap_BY)
  return metrics


def jit_update(
  graphdef, optimizer, hp: RLHyperParams, *, out_shardings=None, donate=False, platform=None
):
  """`update_on_rollout` jitted with its static arguments bound: the one way to compile the update
  outside the train loop (memory plans, benchmarks, tests).

  The result is called as (params, opt_state, controllers, ref_params, rollout, rewards_B, key)
  -> (params, opt_state, controllers, metrics). donate: params, opt_state and controllers are
  donated (their buffers are reused for the outputs), as the train loop donates its state.
  platform: the target's ("tpu" when compiling ahead of time for a topology; default: the default
  backend's), which decides the compiler options.
  """
  return jax.jit(
    functools.partial(update_on_rollout, graphdef=graphdef, optimizer=optimizer, hp=hp),
    out_shardings=out_shardings,
    donate_argnums=(0, 1, 2) if donate else (),
    compiler_options=compile_options.training(platform),
  )
