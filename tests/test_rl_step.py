"""The GRPO iteration's device step: every method by name, schedules, controllers, N updates."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import default as default_config
from jax_rlvr import config_validation, rl_step, sharding, train_state
from jax_rlvr.models import Policy, get_preset
from jax_rlvr.rl import advantages as advantages_lib
from jax_rlvr.rl import controllers as controllers_lib
from jax_rlvr.rollout import sampling, static

Q, G, P, Y = 4, 4, 6, 8  # prompts, samples per prompt, prompt and response tokens


@functools.lru_cache(maxsize=1)
def _rollout():
  """A real rollout of a tiny random policy, and rewards that give every group mixed signs."""
  policy = Policy(get_preset("tiny", vocab_size=17), rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(policy)
  prompts = jax.random.randint(jax.random.key(1), (Q, P), 3, 17)
  mask = jnp.ones((Q, P), jnp.int32).at[0, :2].set(0)
  config = sampling.SamplingConfig(max_new_tokens=Y, num_samples=G, eos_id=2, pad_id=0)
  out = static.generate(graphdef, params, prompts, mask, jax.random.key(2), config)
  rewards = jnp.asarray(np.tile([1.0, 0.0, 0.0, 1.0], Q), jnp.float32)
  return graphdef, params, out, rewards


def _run(rollout_fn=None, mesh_shape=None, **rl_overrides):
  """One jitted GRPO iteration of the smoke config with `rl_overrides` on the `_rollout` batch
  (passed through `rollout_fn` if given); with `mesh_shape`, parameters and batch are laid out on
  that mesh of the 8 fake devices and the update is traced with the mesh set (as train.py does).
  Returns (params, new_params, controllers, metrics)."""
  config = default_config.get_config("smoke")
  config.rollout.prompts_per_step, config.rollout.group_size = Q, G
  config.num_steps = 4
  for key, value in rl_overrides.items():
    config.rl[key] = value
  config_validation.validate_config(config, num_devices=8)
  graphdef, params, out, rewards = _rollout()
  if rollout_fn is not None:
    out = rollout_fn(out)
  hp = rl_step.RLHyperParams.from_config(config)
  optimizer = train_state.make_optimizer(1e-3, 1, config.optim)
  ref = jax.tree.map(jnp.copy, params) if config.rl.kl_coef > 0 else None
  step = rl_step.jit_update(graphdef, optimizer, hp)
  controllers = controllers_lib.init_controllers(hp)
  if mesh_shape is None:
    new_params, _, controllers, metrics = step(
      params, optimizer.init(params), controllers, ref, out, rewards, jax.random.key(3)
    )
    return params, new_params, controllers, jax.device_get(metrics)
  mesh = sharding.make_mesh(mesh_shape)
  sharded_params = jax.device_put(params, sharding.state_shardings(params, mesh))
  put_batch = lambda x: jax.device_put(
    x, sharding.batch_sharding(mesh, x.ndim) if x.ndim else sharding.replicated(mesh)
  )
  out, rewards = jax.tree.map(put_batch, (out, rewards))
  with jax.set_mesh(mesh):
    new_params, _, controllers, metrics = step(
      sharded_params,
      sharding.init_optimizer_state(optimizer, sharded_params, mesh),
      sharding.on_mesh(controllers, mesh),
      ref,
      out,
      rewards,
      jax.random.key(3),
    )
  return params, new_params, controllers, jax.device_get(metrics)


@pytest.mark.parametrize(
  "overrides",
  [
    {},
    {"method": "entropy_bonus", "entropy_coef": 0.01},
    {"method": "adaptive_entropy", "entropy_coef": 0.01},
    {"method": "clip_cov", "cov_fraction": 0.05, "cov_bounds": (-10.0, 10.0)},
    # N = 2: KL-Cov's penalty is 0 on the on-policy first step and acts on the second.
    {"method": "kl_cov", "cov_fraction": 0.05, "mini_batches": 2},
    {"method": "rand_pos_clip", "rand_pos_clip_fraction": 0.5},
    {"method": "top_entropy"},
    {"kl_coef": 0.1, "kl_estimator": "k3+"},
  ],
  ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "grpo",
)
def test_every_method_trains_by_name(overrides):
  params, new_params, _, metrics = _run(**overrides)
  assert all(np.isfinite(v) for v in metrics.values()), metrics
  moved = max(
    float(jnp.max(jnp.abs(a - b)))
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(new_params), strict=True)
  )
  assert moved > 0
  assert metrics["adv_pos_frac"] > 0 and metrics["adv_neg_frac"] > 0
  method = overrides.get("method")
  if method in ("clip_cov", "rand_pos_clip", "top_entropy"):
    assert 0 < metrics["detached_frac"] < 1
  if method == "top_entropy":
    assert metrics["detached_frac"] == pytest.approx(0.8, abs=0.05)
  if method == "kl_cov":
    assert metrics["kl_cov_loss"] > 0 and metrics["loss"] != metrics["pg_loss"]
  if method in ("entropy_bonus", "adaptive_entropy"):
    assert metrics["entropy_coef"] == pytest.approx(0.01)
    assert metrics["entropy_bonus_loss"] < 0
  if "kl_coef" in overrides:
    assert metrics["ref_kl"] == pytest.approx(0.0, abs=1e-6)  # first step: policy == reference


def _mask_and_adv(advantage_fn, **kwargs):
  """The `_rollout` batch's float64 response mask [B, Y] and advantages [B] of an estimator."""
  _, _, out, rewards = _rollout()
  adv_B = np.asarray(advantage_fn(rewards, G, **kwargs), np.float64)
  return np.asarray(out.response_mask_BY, np.float64), adv_B, out


# On the first, on-policy step the ratio is 1 (up to the sampler's rounding), so the policy loss
# is minus the aggregated advantages: each case checks its estimator and aggregation by value.


def test_entropy_adv_shapes_the_advantages_by_token_entropy():
  mask, adv_B, out = _mask_and_adv(advantages_lib.grpo_advantages, ddof=1)
  adv_BY = adv_B[:, None] + np.minimum(0.4 * np.asarray(out.entropy_BY), np.abs(adv_B)[:, None] / 2)
  _, _, _, metrics = _run(method="entropy_adv")
  assert metrics["pg_loss"] == pytest.approx(-np.sum(mask * adv_BY) / mask.sum(), rel=1e-4)
  _, _, _, grpo = _run()
  assert grpo["pg_loss"] == pytest.approx(-np.sum(mask * adv_B[:, None]) / mask.sum(), abs=1e-5)
  assert metrics["pg_loss"] < grpo["pg_loss"]  # the bonus is never negative


def test_rloo_with_sequence_mean_gives_leave_one_out_advantages():
  _, _, _, metrics = _run(advantage="rloo", loss_agg="seq-mean-token-mean")
  # Rewards (1, 0, 0, 1): Â = R - mean of the other three = ±2/3.
  assert metrics["adv_abs_mean"] == pytest.approx(2 / 3, rel=1e-6)
  # Every response weighs once: the mean of centred advantages is 0 whatever the lengths.
  assert metrics["pg_loss"] == pytest.approx(0.0, abs=1e-6)


def test_dr_grpo_without_clip_uses_the_constant_normaliser():
  mask, adv_B, _ = _mask_and_adv(advantages_lib.dr_grpo_advantages)
  _, _, _, metrics = _run(advantage="dr_grpo", loss_agg="seq-mean-token-sum-norm", clip=False)
  assert metrics["adv_abs_mean"] == pytest.approx(0.5)  # R - mean(R), no std
  assert metrics["pg_loss"] == pytest.approx(-np.sum(mask * adv_B[:, None]) / mask.size, rel=1e-4)
  assert metrics["clip_frac_low"] == metrics["clip_frac_high"] == 0


def test_dual_clip_caps_the_loss_of_negative_tokens_with_a_large_ratio():
  """Old log-probs 2 below the policy's on the negative-advantage responses: r = e² > c = 3, so
  dual clip replaces their loss r·|Â| by c·|Â|."""
  mask, adv_B, _ = _mask_and_adv(advantages_lib.grpo_advantages, ddof=1)
  neg_B = adv_B < 0

  def stale(out):
    return out.replace(policy_logp_BY=out.policy_logp_BY - 2.0 * neg_B[:, None])

  _, _, _, plain = _run(rollout_fn=stale, eps_high=0.28)
  _, _, _, dual = _run(rollout_fn=stale, eps_high=0.28, dual_clip_c=3.0)
  neg_tokens = mask * neg_B[:, None]
  assert dual["dual_clip_frac"] == pytest.approx(neg_tokens.sum() / mask.sum(), rel=1e-6)
  assert plain["dual_clip_frac"] == 0
  gap = (np.exp(2.0) - 3.0) * np.sum(neg_tokens * np.abs(adv_B)[:, None]) / mask.sum()
  assert plain["pg_loss"] - dual["pg_loss"] == pytest.approx(gap, rel=1e-3)


def test_zero_weights_on_both_signs_give_no_gradient():
  # λ = 0 and neg_weight = 0: every token term is scaled to zero.
  _, _, _, metrics = _run(pos_weight=0.0, neg_weight=0.0)
  assert metrics["pos_weight"] == 0 and metrics["grad_norm"] == 0


def test_entropy_guided_pos_weight_starts_at_zero_and_moves_by_delta():
  _, _, controllers, metrics = _run(pos_weight_schedule="entropy_guided", entropy_target=100.0)
  assert metrics["pos_weight"] == 0.0  # λ_0
  assert float(controllers.pos_weight.pos_weight) == 0.0  # entropy < δ: λ - Δ, clipped at 0
  _, _, controllers, _ = _run(pos_weight_schedule="entropy_guided", entropy_target=0.0)
  assert float(controllers.pos_weight.pos_weight) == pytest.approx(0.05)  # entropy >= δ: λ + Δ
  assert int(controllers.rl_step) == 1


def test_off_policy_updates_count_and_clip():
  _, _, _, m1 = _run(mini_batches=1, epochs=1, old_logp="recompute")
  _, _, _, m4 = _run(mini_batches=2, epochs=2, eps_low=0.01, eps_high=0.01)
  assert m1["num_updates"] == 1 and m4["num_updates"] == 4
  # With one on-policy update the ratio is 1 and nothing is clipped; later updates are clipped.
  assert m1["clip_frac_low"] == 0 and m1["clip_frac_high"] == 0
  assert m4["clip_frac_low"] + m4["clip_frac_high"] > 0
  assert m1["logp_mismatch"] <= m1["logp_mismatch_max"] < 1e-4
  # At temperature 1 without truncation the sampled distribution is the policy: the sampler's two
  # entropies agree exactly, and the trainer's forward pass up to rounding.
  assert m1["entropy_sampled"] == m1["entropy_policy"]
  assert m1["entropy"] == pytest.approx(m1["entropy_policy"], rel=1e-5)


def _assert_same_update(ref, got):
  """Two `_run` results (N = 4 off-policy steps) agree in metrics, parameters and controllers."""
  (_, ref_params, ref_controllers, ref_metrics), (_, params, controllers, metrics) = ref, got
  assert ref_metrics["clip_frac_low"] + ref_metrics["clip_frac_high"] > 0  # steps 2-4 off-policy
  assert metrics.keys() == ref_metrics.keys()
  for key in ref_metrics:
    assert metrics[key] == pytest.approx(ref_metrics[key], rel=1e-4, abs=1e-6), key
  # Adam divides by √v: summation-order noise on near-zero gradients shows as ~1e-5 absolute
  # differences on parameters of scale 0.02 (as in the sharded-vs-unsharded parity tests).
  for a, b in zip(jax.tree.leaves(ref_params), jax.tree.leaves(params), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=5e-5)
  for a, b in zip(jax.tree.leaves(ref_controllers), jax.tree.leaves(controllers), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5)


@pytest.mark.parametrize("method", ["none", "kl_cov"])
def test_sampler_old_logp_gives_the_recomputed_update(method):
  """old_logp = 'sampler' reuses the sampler's log-probs and entropies instead of a forward pass:
  at temperature 1 the N = 4 steps, metrics and controllers match the recomputed ones."""
  common = dict(mini_batches=2, epochs=2, eps_low=0.05, eps_high=0.05, method=method)
  common.update(pos_weight_schedule="entropy_guided", entropy_target=0.0)
  if method == "kl_cov":
    common.update(cov_fraction=0.05)
  ref = _run(old_logp="recompute", **common)
  got = _run(old_logp="sampler", **common)
  assert ref[3].pop("logp_mismatch") < 1e-5 and ref[3].pop("logp_mismatch_max") < 1e-4
  assert "logp_mismatch" not in got[3]
  _assert_same_update(ref, got)


@pytest.mark.parametrize(
  "rollout, model",
  [
    ({"temperature": 0.7}, {}),
    ({"top_p": 0.9}, {}),
    ({"top_k": 5}, {}),
    ({}, {"dtype": "bfloat16"}),
  ],
)
def test_sampler_old_logp_is_rejected_where_it_is_not_the_policy(rollout, model):
  config = default_config.get_config("smoke")
  config.rl.old_logp = "sampler"
  config.rollout.update(rollout)
  config.model.update(model)
  with pytest.raises(config_validation.ConfigError, match="rl.old_logp"):
    config_validation.validate_config(config, num_devices=8)


@pytest.mark.parametrize(
  "overrides",
  [
    {},
    {"loss_agg": "seq-mean-token-mean", "advantage": "rloo"},
    {"loss_agg": "seq-mean-token-sum-norm", "advantage": "dr_grpo"},
    {"method": "adaptive_entropy", "entropy_coef": 0.01, "kl_coef": 0.1},
  ],
  ids=["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm", "entropy+kl"],
)
def test_gradient_accumulation_equals_one_pass(overrides):
  """micro_batches = 4 sums 4 micro-batches' gradients per optimiser step: the same N = 4 steps,
  parameters, metrics and controllers as one pass per mini-batch, for every aggregation."""
  common = dict(mini_batches=2, epochs=2, eps_low=0.05, eps_high=0.05, **overrides)
  ref = _run(micro_batches=1, **common)
  got = _run(micro_batches=4, **common)
  assert got[3]["num_updates"] == ref[3]["num_updates"] == 4
  _assert_same_update(ref, got)


MASKING_METHODS = {
  "clip_cov": {"method": "clip_cov", "cov_fraction": 0.05, "cov_bounds": (-10.0, 10.0)},
  "kl_cov": {"method": "kl_cov", "cov_fraction": 0.05},
  "rand_pos_clip": {"method": "rand_pos_clip", "rand_pos_clip_fraction": 0.3},
  "top_entropy": {"method": "top_entropy"},
}


@pytest.mark.parametrize("method", sorted(MASKING_METHODS))
def test_masking_methods_select_over_the_whole_mini_batch(method):
  """The token selection ranks (and draws, once per mini-batch) over all micro-batches and
  devices: U ∈ {1, 2, 4} on the (1, 1, 1) and (8, 1, 1) meshes give the same N = 4 steps.
  Selecting within each micro-batch would not: with 5% of ~30 tokens per mini-batch, a quarter of
  them still selects at least one token, so U = 4 would select more."""
  common = dict(mini_batches=2, epochs=2, eps_low=0.05, eps_high=0.05, **MASKING_METHODS[method])
  ref = _run(mesh_shape=(1, 1, 1), micro_batches=1, **common)
  assert ref[3]["num_updates"] == 4
  if method == "kl_cov":
    assert ref[3]["kl_cov_loss"] > 0
  else:
    assert 0 < ref[3]["detached_frac"] < 1
  _assert_same_update(ref, _run(mesh_shape=(1, 1, 1), micro_batches=4, **common))
  _assert_same_update(ref, _run(mesh_shape=(8, 1, 1), micro_batches=2, **common))


def test_micro_batches_must_split_the_mini_batch():
  with pytest.raises(config_validation.ConfigError, match="rl.micro_batches"):
    _run(mini_batches=2, micro_batches=3)


def test_remat_policy_gives_the_same_update_with_chunked_scoring_and_accumulation():
  """The full-scale path: a rematerialised policy scored in chunks (a lax.map) and trained with
  micro-batches (a nested lax.scan) traces (nnx.remat must not see tracers of an outer trace) and
  changes nothing numerically."""
  overrides = dict(mini_batches=2, micro_batches=2)
  _, ref_params, _, ref = _run(**overrides)
  config = default_config.get_config("smoke")
  config.rollout.prompts_per_step, config.rollout.group_size = Q, G
  with config.rl.unlocked():
    config.rl.update(overrides)
  hp = rl_step.RLHyperParams.from_config(config)
  graphdef, params, out, rewards = _rollout()
  remat_graphdef, _ = nnx.split(
    Policy(get_preset("tiny", vocab_size=17, remat=True), rngs=nnx.Rngs(0))
  )
  optimizer = train_state.make_optimizer(1e-3, 1, config.optim)
  step = rl_step.jit_update(remat_graphdef, optimizer, hp)
  new_params, _, _, metrics = step(
    params,
    optimizer.init(params),
    controllers_lib.init_controllers(hp),
    None,
    out,
    rewards,
    jax.random.key(3),
  )
  assert float(metrics["loss"]) == pytest.approx(float(ref["loss"]), rel=1e-5, abs=1e-7)
  for a, b in zip(jax.tree.leaves(ref_params), jax.tree.leaves(new_params), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=5e-5)


def _extra_padding(out, columns=3):
  """The rollout with `columns` more masked columns left of the prompts (as data.max_prompt_len
  leaves) and right of the responses (as rollout.max_new_tokens leaves)."""
  B = out.prompt_tokens_BP.shape[0]
  pad = jnp.zeros((B, columns), jnp.int32)
  fields = {
    "prompt_tokens_BP": jnp.concatenate([pad + 5, out.prompt_tokens_BP], 1),
    "prompt_mask_BP": jnp.concatenate(
      [pad.astype(out.prompt_mask_BP.dtype), out.prompt_mask_BP], 1
    ),
  }
  for name in ("response_tokens_BY", "response_mask_BY", "sample_logp_BY", "policy_logp_BY"):
    x = getattr(out, name)
    fields[name] = jnp.concatenate([x, pad.astype(x.dtype)], 1)
  for name in ("entropy_BY", "sample_entropy_BY"):
    fields[name] = jnp.concatenate([getattr(out, name), pad.astype(jnp.float32) + 0.7], 1)
  return out.replace(**fields)


def test_trim_padding_drops_only_columns_no_row_uses():
  _, _, out, _ = _rollout()
  padded = _extra_padding(out)
  trimmed = sampling.trim_padding(padded, bucket=1)
  for name in ("prompt_tokens_BP", "prompt_mask_BP", "response_tokens_BY", "entropy_BY"):
    np.testing.assert_array_equal(getattr(trimmed, name), getattr(out, name), err_msg=name)
  bucketed = sampling.trim_padding(padded, bucket=4)
  # 6 real prompt columns -> 8; 8 response columns stay 8 (a row runs to max_new_tokens).
  assert bucketed.prompt_tokens_BP.shape[1] == 8 and bucketed.response_tokens_BY.shape[1] == Y
  assert sampling.trim_padding(out, bucket=1) is out  # nothing to trim


@pytest.mark.parametrize("method", ["none", "top_entropy"])
def test_trimmed_rollout_gives_the_same_update(method):
  """The update over the trimmed rollout (fewer columns, recomputed old log-probs) equals the
  update over the padded one: N = 4 steps, metrics, parameters."""
  common = dict(mini_batches=2, epochs=2, eps_low=0.05, eps_high=0.05, method=method)
  common.update(old_logp="recompute")
  ref = _run(_extra_padding, **common)
  got = _run(lambda out: sampling.trim_padding(_extra_padding(out), bucket=1), **common)
  _assert_same_update(ref, got)


def test_shared_prompts_give_the_same_update():
  """rl.share_prompts computes each group's prompt once: with N = 1 (every row in one step) the
  update equals the per-row one up to rounding."""
  ref = _run(micro_batches=2, old_logp="recompute")
  got = _run(micro_batches=2, old_logp="recompute", share_prompts=True)
  for a, b in zip(jax.tree.leaves(ref[1]), jax.tree.leaves(got[1]), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=5e-5)
  for key in ("loss", "grad_norm", "entropy", "approx_kl"):
    assert got[3][key] == pytest.approx(ref[3][key], rel=1e-4, abs=1e-6), key


def test_shared_prompts_off_policy_mini_batches_hold_whole_groups():
  """At N = 4 the mini-batches are whole groups in a random order; accumulating them in 1 or 2
  micro-batches (whole groups each) gives the same N = 4 steps, with a masking method too."""
  common = dict(mini_batches=2, epochs=2, eps_low=0.05, eps_high=0.05, share_prompts=True)
  common.update(method="top_entropy")
  _assert_same_update(_run(micro_batches=1, **common), _run(micro_batches=2, **common))


def test_shared_prompts_need_micro_batches_of_whole_groups():
  config = default_config.get_config("smoke")
  config.rl.share_prompts, config.rl.micro_batches = True, 2  # 16 rows, G = 4: 8-row micro-batches
  config_validation.validate_config(config, num_devices=8)
  config.rl.micro_batches = 8  # 2-row micro-batches split the groups
  with pytest.raises(config_validation.ConfigError, match="rl.share_prompts"):
    config_validation.validate_config(config, num_devices=8)


def test_hyperparams_name_every_rl_field_and_leave_out_host_only_ones():
  config = default_config.get_config("smoke")
  hp = rl_step.RLHyperParams.from_config(config)
  assert (hp.eps_high, hp.mini_batches, hp.cov_bounds) == (0.2, 1, (1.0, 5.0))
  # Host-only fields do not key the jitted update: changing them gives an equal (same-hash) hp.
  config.rl.probe_every, config.rl.pad_bucket = 7, 16
  assert rl_step.RLHyperParams.from_config(config) == hp
  assert not hasattr(hp, "probe_every")
  config.rl.eps_high = 0.28
  assert rl_step.RLHyperParams.from_config(config) != hp
  with config.unlocked():
    config.rl.eps_highest = 0.3
  with pytest.raises(ValueError, match="eps_highest"):
    rl_step.RLHyperParams.from_config(config)
