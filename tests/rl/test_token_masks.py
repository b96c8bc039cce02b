"""Token selection against the NumPy reference, and the registry by method name."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_rlvr.rl import losses, token_masks

from . import numpy_reference as ref
from .batches import B, T, token_batch


def test_token_covariance_matches_reference():
  logp, _, adv, _, mask = token_batch()
  np.testing.assert_allclose(
    token_masks.token_covariance(logp, adv, mask), ref.token_covariance(logp, adv, mask), atol=1e-5
  )


@pytest.mark.parametrize("with_old", [False, True])
@pytest.mark.parametrize("clip_ratio", [2e-4, 0.05])
def test_clip_cov_matches_reference(with_old, clip_ratio):
  logp, old, adv, _, mask = token_batch()
  key = jax.random.PRNGKey(3)
  old_arg = old if with_old else None
  got = token_masks.clip_cov_mask(key, logp, adv, mask, clip_ratio=clip_ratio, old_logp_BT=old_arg)
  uniform = np.asarray(jax.random.uniform(key, (B, T)))
  want = ref.clip_cov_weights(uniform, logp, adv, mask, clip_ratio, 1.0, 5.0, old_logp=old_arg)
  np.testing.assert_array_equal(got, want)
  detached = (mask > 0) & (np.asarray(got) == 0)
  assert detached.sum() == max(1, int(clip_ratio * mask.sum()))
  cov = ref.token_covariance(logp, adv, mask)
  assert np.all((cov[detached] > 1.0) & (cov[detached] < 5.0))
  assert np.all(np.asarray(got)[mask == 0] == 0.0)


def test_clip_cov_randomness_and_ppo_clip_exclusion():
  logp, old, adv, _, mask = token_batch()
  cov = ref.token_covariance(logp, adv, mask)
  candidates = (mask > 0) & (cov > 1.0) & (cov < 5.0)
  ratio = np.exp(logp - old)
  ppo_clipped = ((adv[:, None] > 0) & (ratio > 1.2)) | ((adv[:, None] < 0) & (ratio < 0.8))
  assert candidates.sum() > 2 * int(0.05 * mask.sum()) and (candidates & ppo_clipped).any()
  picks = [
    token_masks.clip_cov_mask(
      jax.random.PRNGKey(k), logp, adv, mask, clip_ratio=0.05, old_logp_BT=old
    )
    for k in range(4)
  ]
  detached = [(mask > 0) & (np.asarray(p) == 0) for p in picks]
  assert len({d.tobytes() for d in detached}) > 1  # the key matters
  for d in detached:
    assert not (d & ppo_clipped).any() and np.all(candidates[d])


def test_detached_tokens_keep_the_denominator_and_lose_the_gradient():
  logp, old, adv, _, mask = token_batch()
  weights = token_masks.clip_cov_mask(jax.random.PRNGKey(0), logp, adv, mask, clip_ratio=0.05)
  detached = (mask > 0) & (np.asarray(weights) == 0)

  @jax.jit
  def loss_and_grad(w):
    return jax.value_and_grad(
      lambda lp: losses.policy_loss(lp, old, adv, mask, token_weights_BT=w)[0]
    )(jnp.asarray(logp))

  full_loss, full_grad = loss_and_grad(mask)
  loss, grad = loss_and_grad(weights)
  assert np.all(np.asarray(grad)[detached] == 0.0)
  np.testing.assert_array_equal(np.asarray(grad)[~detached], np.asarray(full_grad)[~detached])
  # Same denominator: the difference is exactly the detached terms over all response tokens.
  ratio = np.exp(logp - old)
  obj = np.minimum(ratio * adv[:, None], np.clip(ratio, 0.8, 1.2) * adv[:, None])
  np.testing.assert_allclose(loss - full_loss, obj[detached].sum() / mask.sum(), rtol=1e-4)


def test_kl_cov_matches_reference():
  logp, old, adv, _, mask = token_batch()
  sel = token_masks.kl_cov_mask(logp, adv, mask, kl_ratio=0.05)
  np.testing.assert_array_equal(sel, ref.kl_cov_selection(logp, adv, mask, 0.05))
  assert np.asarray(sel).sum() == int(0.05 * mask.sum())
  value, grad = jax.value_and_grad(
    lambda lp: token_masks.kl_cov_loss(lp, old, adv, mask, kl_ratio=0.05, beta=1.5)
  )(jnp.asarray(logp))
  want, want_grad = ref.kl_cov_loss(logp, old, adv, mask, 0.05, 1.5)
  np.testing.assert_allclose(value, want, rtol=1e-5)
  np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-8)
  # The default k = 2e-4 selects a single token: the largest covariance.
  cov = ref.token_covariance(logp, adv, mask)
  one = np.asarray(token_masks.kl_cov_mask(logp, adv, mask))
  assert one.sum() == 1 and cov[one > 0][0] == cov.max()


def test_kl_cov_has_no_gradient_from_rounding_noise_on_policy():
  """On the on-policy step log π_old equals log π_θ up to rounding; the sign of that noise must
  not set the penalty's gradient (|Δ| has its kink at 0)."""
  logp, _, adv, _, mask = token_batch()
  noise = np.random.default_rng(0).normal(0, 1e-6, logp.shape).astype(np.float32)
  loss_fn = lambda lp: token_masks.kl_cov_loss(lp, logp + noise, adv, mask, kl_ratio=0.05)
  value, grad = jax.value_and_grad(loss_fn)(jnp.asarray(logp))
  assert float(value) == 0.0 and not np.asarray(grad).any()
  # A real drift is penalised: the selected tokens get gradient ±β / (response tokens).
  value, grad = jax.value_and_grad(loss_fn)(jnp.asarray(logp + 0.01))
  assert float(value) > 0 and np.count_nonzero(np.asarray(grad)) == int(0.05 * mask.sum())


@pytest.mark.parametrize("fraction", [2e-4, 0.1])
def test_rand_pos_clip_matches_reference(fraction):
  _, _, adv, _, mask = token_batch()
  key = jax.random.PRNGKey(7)
  got = np.asarray(token_masks.rand_pos_clip_mask(key, adv, mask, fraction=fraction))
  uniform = np.asarray(jax.random.uniform(key, (B, T)))
  np.testing.assert_array_equal(got, ref.rand_pos_clip_weights(uniform, adv, mask, fraction))
  positive = (mask > 0) & (adv[:, None] > 0)
  detached = (mask > 0) & (got == 0)
  assert detached.sum() == max(1, int(fraction * positive.sum()))
  assert np.all(positive[detached])


def test_rand_pos_clip_without_positive_tokens_detaches_nothing():
  _, _, _, _, mask = token_batch()
  got = token_masks.rand_pos_clip_mask(
    jax.random.PRNGKey(0), -np.ones(B, np.float32), mask, fraction=0.5
  )
  np.testing.assert_array_equal(got, mask)


def test_top_entropy_matches_reference_and_breaks_ties_by_position():
  _, _, _, ent, mask = token_batch()
  got = np.asarray(token_masks.top_entropy_mask(ent, mask))
  np.testing.assert_array_equal(got, ref.top_entropy_weights(ent, mask, 0.2))
  assert got.sum() == int(0.2 * mask.sum())
  assert ent[got > 0].min() >= ent[(mask > 0) & (got == 0)].max()
  flat = np.asarray(token_masks.top_entropy_mask(np.ones((B, T), np.float32), mask, top_frac=0.25))
  first = np.flatnonzero(mask.reshape(-1))[: int(0.25 * mask.sum())]
  np.testing.assert_array_equal(np.flatnonzero(flat.reshape(-1)), first)


def test_token_method_registry_binds_the_config_fields():
  logp, old, adv, ent, mask = token_batch()
  batch = token_masks.TokenBatch(logp, old, adv, ent, mask)
  key = jax.random.PRNGKey(1)
  hp = types.SimpleNamespace(
    cov_fraction=0.05,
    cov_bounds=(1.0, 5.0),
    eps_low=0.2,
    eps_high=0.2,
    kl_cov_beta=1.5,
    rand_pos_clip_fraction=0.1,
    top_entropy_fraction=0.3,
  )
  methods = token_masks.TOKEN_METHODS
  assert set(methods) == {"clip_cov", "kl_cov", "rand_pos_clip", "top_entropy"}
  uniform = np.asarray(jax.random.uniform(key, (B, T)))
  np.testing.assert_array_equal(
    methods["clip_cov"].select(key, batch, hp),
    ref.clip_cov_weights(uniform, logp, adv, mask, 0.05, 1.0, 5.0, old_logp=old),
  )
  np.testing.assert_array_equal(
    methods["rand_pos_clip"].select(key, batch, hp),
    ref.rand_pos_clip_weights(uniform, adv, mask, 0.1),
  )
  np.testing.assert_array_equal(
    methods["top_entropy"].select(key, batch, hp), ref.top_entropy_weights(ent, mask, 0.3)
  )
  # KL-Cov's selection feeds its penalty, not the token weights.
  selected = methods["kl_cov"].select(key, batch, hp)
  np.testing.assert_array_equal(selected, token_masks.kl_cov_mask(logp, adv, mask, kl_ratio=0.05))
  assert [m.penalty is not None for m in methods.values()] == [False, True, False, False]
  np.testing.assert_allclose(
    methods["kl_cov"].penalty(logp, batch, selected, hp, "token-mean", None),
    token_masks.kl_cov_loss(logp, old, adv, mask, kl_ratio=0.05, beta=1.5),
    rtol=1e-6,
  )
  assert not methods["rand_pos_clip"].reads_policy and methods["clip_cov"].reads_policy
