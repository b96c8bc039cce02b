"""One GRPO iteration's device work: advantages, old log-probs, N gradient steps, controllers.

Everything here runs inside one jit (`train.rl_update`). The config is reduced to a hashable
`RLHyperParams` so that methods are chosen statically by name; λ and entropy coefficients that
change every step are traced scalars held in `Controllers` (checkpointed with the train state).

Shape letters: B = P·G responses, L prompt tokens, N new tokens, M responses per mini-batch.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from jax_rlvr.models import scoring
from jax_rlvr.rl import advantages as advantages_lib
from jax_rlvr.rl import entropy_control as ec
from jax_rlvr.rl import kl as kl_lib
from jax_rlvr.rl import losses


@dataclasses.dataclass(frozen=True)
class RLHyperParams:
  """The static part of config.rl / config.rollout needed on device (see configs/common.py)."""

  group_size: int
  temperature: float
  logprob_chunk_size: int | None
  advantage: str
  std_ddof: int
  loss_agg: str
  eps_low: float
  eps_high: float
  clip: bool
  dual_clip_c: float | None
  mini_batches: int
  epochs: int
  pos_weight: float
  neg_weight: float
  lambda_schedule: str
  lambda_init: float
  lambda_epochs: int
  entropy_target: float
  lambda_step: float
  pi_kp: float
  pi_ki: float
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
  total_rl_steps: int

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> RLHyperParams:
    rl = config.rl
    return cls(
      group_size=config.rollout.group_size,
      temperature=config.rollout.temperature,
      logprob_chunk_size=config.model.logprob_chunk_size or None,
      advantage=rl.advantage,
      std_ddof=rl.std_ddof,
      loss_agg=rl.loss_agg,
      eps_low=rl.eps_low,
      eps_high=rl.eps_high,
      clip=rl.clip,
      dual_clip_c=rl.dual_clip_c or None,
      mini_batches=rl.mini_batches,
      epochs=rl.epochs,
      pos_weight=rl.pos_weight,
      neg_weight=rl.neg_weight,
      lambda_schedule=rl.lambda_schedule,
      lambda_init=rl.lambda_init,
      lambda_epochs=rl.lambda_epochs,
      entropy_target=rl.entropy_target,
      lambda_step=rl.lambda_step,
      pi_kp=rl.pi_kp,
      pi_ki=rl.pi_ki,
      method=rl.method,
      entropy_coef=rl.entropy_coef,
      entropy_coef_step=rl.entropy_coef_step,
      cov_fraction=rl.cov_fraction,
      cov_bounds=tuple(rl.cov_bounds),
      kl_cov_beta=rl.kl_cov_beta,
      entropy_adv_alpha=rl.entropy_adv_alpha,
      entropy_adv_kappa=rl.entropy_adv_kappa,
      rand_pos_clip_fraction=rl.rand_pos_clip_fraction,
      top_entropy_fraction=rl.top_entropy_fraction,
      kl_coef=rl.kl_coef,
      kl_estimator=rl.kl_estimator,
      total_rl_steps=config.num_steps,
    )


class Controllers(NamedTuple):
  """Per-step controller states; all are always present so the checkpoint layout is fixed."""

  rl_step: jax.Array  # int32: GRPO iterations done (drives the stage / epoch schedules)
  lam: ec.EntropyGuidedState  # entropy-guided λ
  entropy_coef: ec.AdaptiveEntropyState  # adaptive entropy regularisation α
  pic: ec.EntroPICState  # EntroPIC-style PI controller


def init_controllers(hp: RLHyperParams) -> Controllers:
  return Controllers(
    rl_step=jnp.zeros((), jnp.int32),
    lam=ec.init_entropy_guided(hp.lambda_init),
    entropy_coef=ec.init_adaptive_entropy(hp.entropy_coef),
    pic=ec.init_entropic(),
  )


def current_weights(c: Controllers, hp: RLHyperParams):
  """(pos_weight λ, neg_weight, entropy-bonus α) to use at this step."""
  neg = jnp.asarray(hp.neg_weight, jnp.float32)
  if hp.lambda_schedule == "constant":
    pos = jnp.asarray(hp.pos_weight, jnp.float32)
  elif hp.lambda_schedule == "stage":
    pos = ec.stage_lambda(c.rl_step, hp.total_rl_steps)
  elif hp.lambda_schedule == "epoch":
    pos = ec.epoch_lambda(c.rl_step, hp.total_rl_steps, num_epochs=hp.lambda_epochs)
  elif hp.lambda_schedule == "entropy_guided":
    pos, _ = ec.entropy_guided_weights(c.lam)
  elif hp.lambda_schedule == "pi":
    pos, neg = ec.entropic_weights(c.pic)
  else:
    raise ValueError(f"Unknown lambda_schedule {hp.lambda_schedule!r}.")
  if hp.method == "entropy_bonus":
    coef = jnp.asarray(hp.entropy_coef, jnp.float32)
  elif hp.method == "adaptive_entropy":
    coef = ec.adaptive_entropy_coef(c.entropy_coef)
  else:
    coef = jnp.zeros((), jnp.float32)
  return pos, neg, coef


def update_controllers(c: Controllers, entropy, hp: RLHyperParams) -> Controllers:
  """Advances every controller with the step's mean token entropy H (only the active ones
  matter; the others are updated too, which keeps this function free of branches)."""
  return Controllers(
    rl_step=c.rl_step + 1,
    lam=ec.update_entropy_guided(c.lam, entropy, target=hp.entropy_target, delta=hp.lambda_step),
    entropy_coef=ec.update_adaptive_entropy(
      c.entropy_coef, entropy, target=hp.entropy_target, step=hp.entropy_coef_step
    ),
    pic=ec.update_entropic(c.pic, entropy, target=hp.entropy_target, kp=hp.pi_kp, ki=hp.pi_ki),
  )


def _token_mask(hp: RLHyperParams, key, batch: ec.TokenBatch):
  """Token weights of the masking methods (None for the others), on the batch passed in."""
  if hp.method == "clip_cov":
    lo, hi = hp.cov_bounds
    return ec.TOKEN_MASK_FNS["clip_cov"](
      key,
      batch,
      clip_ratio=hp.cov_fraction,
      cov_lb=lo,
      cov_ub=hi,
      eps_low=hp.eps_low,
      eps_high=hp.eps_high,
    )
  if hp.method == "rand_pos_clip":
    return ec.TOKEN_MASK_FNS["rand_pos_clip"](key, batch, fraction=hp.rand_pos_clip_fraction)
  if hp.method == "top_entropy":
    return ec.TOKEN_MASK_FNS["top_entropy"](key, batch, top_frac=hp.top_entropy_fraction)
  return None


def score(params, batch, *, graphdef, hp: RLHyperParams):
  """(logp_BN, entropy_BN) of the batch's response tokens under `params`, one forward pass.

  Like veRL, log-probs, ratios and entropies use the rollout temperature (the paper samples at
  1.0, where this is the plain policy).
  """
  return scoring.response_logprobs(
    nnx.merge(graphdef, params),
    batch["prompt_tokens"],
    batch["prompt_mask"],
    batch["response_tokens"],
    batch["response_mask"],
    temperature=hp.temperature,
    chunk_size=hp.logprob_chunk_size,
  )


def minibatch_loss(params, mb, weights, key, *, graphdef, hp: RLHyperParams):
  """Loss of one mini-batch (a dict of [M, ...] arrays) and its metrics."""
  logp_MN, entropy_MN = score(params, mb, graphdef=graphdef, hp=hp)
  mask_MN = mb["response_mask"]
  pos_weight, neg_weight, entropy_coef = weights
  adv = mb["adv"]
  if hp.method == "entropy_adv":
    adv = ec.entropy_advantage(
      adv, entropy_MN, alpha=hp.entropy_adv_alpha, kappa=hp.entropy_adv_kappa
    )
  token_batch = ec.TokenBatch(
    logp_BT=jax.lax.stop_gradient(logp_MN),
    old_logp_BT=mb["old_logp"],
    adv_BT=adv,
    entropy_BT=jax.lax.stop_gradient(entropy_MN),
    mask_BT=mask_MN,
  )
  token_weights = _token_mask(hp, key, token_batch)
  loss, metrics = losses.policy_loss(
    logp_MN,
    mb["old_logp"],
    adv,
    mask_MN,
    eps_low=hp.eps_low,
    eps_high=hp.eps_high,
    clip=hp.clip,
    dual_clip_c=hp.dual_clip_c,
    pos_weight=pos_weight,
    neg_weight=neg_weight,
    token_weights_BT=token_weights,
    agg=hp.loss_agg,
  )
  metrics = dict(metrics, pg_loss=loss)
  if hp.method in ("entropy_bonus", "adaptive_entropy"):
    bonus = ec.entropy_bonus_loss(entropy_MN, mask_MN, entropy_coef, agg=hp.loss_agg)
    loss, metrics["entropy_bonus_loss"] = loss + bonus, bonus
  if hp.method == "kl_cov":
    kl_cov = ec.kl_cov_loss(
      logp_MN,
      mb["old_logp"],
      adv,
      mask_MN,
      kl_ratio=hp.cov_fraction,
      beta=hp.kl_cov_beta,
      agg=hp.loss_agg,
    )
    loss, metrics["kl_cov_loss"] = loss + kl_cov, kl_cov
  if hp.kl_coef > 0:
    kl = kl_lib.kl_loss(
      logp_MN, mb["ref_logp"], mask_MN, estimator=hp.kl_estimator, agg=hp.loss_agg
    )
    loss, metrics["ref_kl"] = loss + hp.kl_coef * kl, kl
  if token_weights is not None:
    detached = jnp.sum((token_weights == 0) & (mask_MN > 0))
    metrics["detached_frac"] = detached / jnp.maximum(jnp.sum(mask_MN > 0), 1)
  metrics["loss"] = loss
  return loss, metrics


def _masked_mean(x_BN, mask_BN):
  mask_BN = mask_BN.astype(jnp.float32)
  return jnp.sum(x_BN * mask_BN) / jnp.maximum(jnp.sum(mask_BN), 1.0)


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
):
  """Takes N = mini_batches × epochs gradient steps on one rollout batch.

  rollout: a sampling.SampleOutput (prompt_*_BL, response_*_BN, policy_logp_BN, entropy_BN).
  Returns (params, opt_state, controllers, metrics); metrics are means over the N steps, except
  rollout statistics (entropy, advantages, log-prob mismatch) which describe the rollout batch.
  """
  adv_fn = advantages_lib.ADVANTAGE_FNS[hp.advantage]
  if hp.advantage == "grpo":
    adv_B = adv_fn(rewards_B, hp.group_size, ddof=hp.std_ddof)
  else:
    adv_B = adv_fn(rewards_B, hp.group_size)
  mask_BN = rollout.response_mask_BN
  batch = {
    "prompt_tokens": rollout.prompt_tokens_BP,
    "prompt_mask": rollout.prompt_mask_BP,
    "response_tokens": rollout.response_tokens_BN,
    "response_mask": mask_BN,
    "adv": adv_B,
  }
  # Old log-probs: a forward pass of the policy that sampled.
  old_logp_BN, entropy_BN = jax.lax.stop_gradient(score(params, batch, graphdef=graphdef, hp=hp))
  batch["old_logp"] = old_logp_BN
  if hp.kl_coef > 0:
    ref_logp_BN, _ = score(ref_params, batch, graphdef=graphdef, hp=hp)
    batch["ref_logp"] = jax.lax.stop_gradient(ref_logp_BN)
  weights = current_weights(controllers, hp)
  sampler_logp_BN = rollout.policy_logp_BN if hp.temperature == 1.0 else rollout.sample_logp_BN

  B = rewards_B.shape[0]
  M = B // hp.mini_batches
  perm_keys = jax.random.split(jax.random.fold_in(key, 0), hp.epochs)
  order = jnp.concatenate([jax.random.permutation(k, B) for k in perm_keys])
  rows_SM = order.reshape(hp.epochs * hp.mini_batches, M)
  step_keys = jax.random.split(jax.random.fold_in(key, 1), rows_SM.shape[0])
  grad_fn = jax.value_and_grad(minibatch_loss, has_aux=True)

  def one_step(carry, xs):
    params, opt_state = carry
    rows_M, step_key = xs
    mb = jax.tree.map(lambda x: x[rows_M], batch)
    (_, metrics), grads = grad_fn(params, mb, weights, step_key, graphdef=graphdef, hp=hp)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    metrics["grad_norm"] = optax.tree.norm(grads)
    return (params, opt_state), metrics

  (params, opt_state), step_metrics = jax.lax.scan(
    one_step, (params, opt_state), (rows_SM, step_keys)
  )
  metrics = jax.tree.map(jnp.mean, step_metrics)
  metrics["ratio_max"] = jnp.max(step_metrics["ratio_max"])

  entropy = _masked_mean(entropy_BN, mask_BN)
  adv_BN = jnp.broadcast_to(adv_B[:, None], mask_BN.shape)
  pos_weight, neg_weight, entropy_coef = weights
  metrics.update(
    reward_mean=jnp.mean(rewards_B),
    accuracy=jnp.mean((rewards_B > 0.5).astype(jnp.float32)),
    entropy=entropy,
    entropy_pos_adv=_masked_mean(entropy_BN, mask_BN * (adv_BN > 0)),
    entropy_neg_adv=_masked_mean(entropy_BN, mask_BN * (adv_BN < 0)),
    pos_weight=pos_weight,
    neg_weight=neg_weight,
    entropy_coef=entropy_coef,
    adv_abs_mean=jnp.mean(jnp.abs(adv_B)),
    response_length=jnp.mean(jnp.sum(mask_BN, axis=1).astype(jnp.float32)),
    # The sampler's log-probs vs the trainer's forward pass of the same parameters (at T = 1
    # without truncation the two describe the same distribution).
    logp_mismatch=_masked_mean(jnp.abs(sampler_logp_BN - old_logp_BN), mask_BN),
    num_updates=jnp.float32(rows_SM.shape[0]),
  )
  controllers = update_controllers(controllers, entropy, hp)
  return params, opt_state, controllers, metrics
