"""Entropy-control methods against the NumPy reference, and their closed-loop behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_rlvr.rl import entropy_control as ec
from jax_rlvr.rl import losses

from . import numpy_reference as ref

B, T = 8, 16


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  logp = rng.normal(-1.0, 1.0, (B, T)).astype(np.float32)
  old = (logp + rng.normal(0.0, 0.3, (B, T))).astype(np.float32)
  adv = np.array([1.5, -1.0, 0.8, 0.0, -0.6, 1.1, -1.4, 0.3], np.float32)
  ent = rng.gamma(1.0, 0.5, (B, T)).astype(np.float32)
  mask = (np.arange(T)[None, :] < rng.integers(4, T + 1, B)[:, None]).astype(np.float32)
  return logp, old, adv, ent, mask


# -------------------------------------------------------------------------------------------------
# Entropy and bonuses.


def test_entropy_from_logits_value_and_gradient():
  logits = np.random.default_rng(0).normal(size=(3, 4, 7)).astype(np.float32)
  value, grad = jax.value_and_grad(lambda z: jnp.sum(ec.entropy_from_logits(z)))(logits)
  want, want_grad = ref.entropy(logits)
  np.testing.assert_allclose(ec.entropy_from_logits(logits), want, rtol=1e-5)
  np.testing.assert_allclose(value, want.sum(), rtol=1e-5)
  np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-6)


def test_entropy_ignores_minus_inf_logits():
  logits = jnp.array([1.0, 0.0, -jnp.inf, 0.5])
  value, grad = jax.value_and_grad(ec.entropy_from_logits)(logits)
  np.testing.assert_allclose(value, ref.entropy(np.array([1.0, 0.0, 0.5]))[0], rtol=1e-6)
  assert np.all(np.isfinite(grad)) and grad[2] == 0.0


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-sum-norm"])
def test_entropy_bonus_value_gradient_and_direction(agg):
  logits = np.random.default_rng(1).normal(size=(B, T, 5)).astype(np.float32)
  _, _, _, _, mask = _batch()

  def loss_fn(z):
    return ec.entropy_bonus_loss(ec.entropy_from_logits(z), mask, 0.002, agg=agg)

  value, grad = jax.value_and_grad(loss_fn)(logits)
  h, dh = ref.entropy(logits)
  coef = ref.agg_coefficients(mask, agg)
  np.testing.assert_allclose(value, -0.002 * np.sum(coef * h), rtol=1e-5)
  np.testing.assert_allclose(grad, -0.002 * coef[..., None] * dh, rtol=1e-4, atol=1e-9)
  # A descent step on the loss raises the entropy of every response token.
  stepped = ec.entropy_from_logits(logits - 100.0 * grad)
  assert np.all(np.asarray(stepped - ec.entropy_from_logits(logits))[mask > 0] > 0)


def test_adaptive_entropy_coefficient_matches_reference():
  entropies = [0.1, 0.15, 0.3, 0.25, 0.35, 0.4, 0.1, 0.05, 0.5, 0.5]
  state = ec.init_adaptive_entropy()
  got = []
  for h in entropies:
    state = ec.update_adaptive_entropy(state, h, target=0.2, step=0.01)
    got.append(float(ec.adaptive_entropy_coef(state)))
  want = ref.adaptive_entropy_coefs(entropies, 0.0, 0.2, 0.01)
  np.testing.assert_allclose(got, want, atol=1e-7)
  assert min(got) == 0.0 and max(got) > 0.0  # it rose, then was stopped at zero


# -------------------------------------------------------------------------------------------------
# Token selections.


def test_token_covariance_matches_reference():
  logp, _, adv, _, mask = _batch()
  np.testing.assert_allclose(
    ec.token_covariance(logp, adv, mask), ref.token_covariance(logp, adv, mask), atol=1e-5
  )


@pytest.mark.parametrize("with_old", [False, True])
@pytest.mark.parametrize("clip_ratio", [2e-4, 0.05])
def test_clip_cov_matches_reference(with_old, clip_ratio):
  logp, old, adv, _, mask = _batch()
  key = jax.random.PRNGKey(3)
  old_arg = old if with_old else None
  got = ec.clip_cov_mask(key, logp, adv, mask, clip_ratio=clip_ratio, old_logp_BT=old_arg)
  uniform = np.asarray(jax.random.uniform(key, (B, T)))
  want = ref.clip_cov_weights(uniform, logp, adv, mask, clip_ratio, 1.0, 5.0, old_logp=old_arg)
  np.testing.assert_array_equal(got, want)
  detached = (mask > 0) & (np.asarray(got) == 0)
  assert detached.sum() == max(1, int(clip_ratio * mask.sum()))
  cov = ref.token_covariance(logp, adv, mask)
  assert np.all((cov[detached] > 1.0) & (cov[detached] < 5.0))
  assert np.all(np.asarray(got)[mask == 0] == 0.0)


def test_clip_cov_randomness_and_ppo_clip_exclusion():
  logp, old, adv, _, mask = _batch()
  cov = ref.token_covariance(logp, adv, mask)
  candidates = (mask > 0) & (cov > 1.0) & (cov < 5.0)
  ratio = np.exp(logp - old)
  ppo_clipped = ((adv[:, None] > 0) & (ratio > 1.2)) | ((adv[:, None] < 0) & (ratio < 0.8))
  assert candidates.sum() > 2 * int(0.05 * mask.sum()) and (candidates & ppo_clipped).any()
  picks = [
    ec.clip_cov_mask(jax.random.PRNGKey(k), logp, adv, mask, clip_ratio=0.05, old_logp_BT=old)
    for k in range(4)
  ]
  detached = [(mask > 0) & (np.asarray(p) == 0) for p in picks]
  assert len({d.tobytes() for d in detached}) > 1  # the key matters
  for d in detached:
    assert not (d & ppo_clipped).any() and np.all(candidates[d])


def test_detached_tokens_keep_the_denominator_and_lose_the_gradient():
  logp, old, adv, _, mask = _batch()
  weights = ec.clip_cov_mask(jax.random.PRNGKey(0), logp, adv, mask, clip_ratio=0.05)
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
  logp, old, adv, _, mask = _batch()
  sel = ec.kl_cov_mask(logp, adv, mask, kl_ratio=0.05)
  np.testing.assert_array_equal(sel, ref.kl_cov_selection(logp, adv, mask, 0.05))
  assert np.asarray(sel).sum() == int(0.05 * mask.sum())
  value, grad = jax.value_and_grad(
    lambda lp: ec.kl_cov_loss(lp, old, adv, mask, kl_ratio=0.05, beta=1.5)
  )(jnp.asarray(logp))
  want, want_grad = ref.kl_cov_loss(logp, old, adv, mask, 0.05, 1.5)
  np.testing.assert_allclose(value, want, rtol=1e-5)
  np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-8)
  # The default k = 2e-4 selects a single token: the largest covariance.
  cov = ref.token_covariance(logp, adv, mask)
  one = np.asarray(ec.kl_cov_mask(logp, adv, mask))
  assert one.sum() == 1 and cov[one > 0][0] == cov.max()


def test_kl_cov_has_no_gradient_from_rounding_noise_on_policy():
  """On the on-policy step log π_old equals log π_θ up to rounding; the sign of that noise must
  not set the penalty's gradient (|Δ| has its kink at 0)."""
  logp, _, adv, _, mask = _batch()
  noise = np.random.default_rng(0).normal(0, 1e-6, logp.shape).astype(np.float32)
  loss_fn = lambda lp: ec.kl_cov_loss(lp, logp + noise, adv, mask, kl_ratio=0.05)
  value, grad = jax.value_and_grad(loss_fn)(jnp.asarray(logp))
  assert float(value) == 0.0 and not np.asarray(grad).any()
  # A real drift is penalised: the selected tokens get gradient ±β / (response tokens).
  value, grad = jax.value_and_grad(loss_fn)(jnp.asarray(logp + 0.01))
  assert float(value) > 0 and np.count_nonzero(np.asarray(grad)) == int(0.05 * mask.sum())


@pytest.mark.parametrize("fraction", [2e-4, 0.1])
def test_rand_pos_clip_matches_reference(fraction):
  _, _, adv, _, mask = _batch()
  key = jax.random.PRNGKey(7)
  got = np.asarray(ec.rand_pos_clip_mask(key, adv, mask, fraction=fraction))
  uniform = np.asarray(jax.random.uniform(key, (B, T)))
  np.testing.assert_array_equal(got, ref.rand_pos_clip_weights(uniform, adv, mask, fraction))
  positive = (mask > 0) & (adv[:, None] > 0)
  detached = (mask > 0) & (got == 0)
  assert detached.sum() == max(1, int(fraction * positive.sum()))
  assert np.all(positive[detached])


def test_rand_pos_clip_without_positive_tokens_detaches_nothing():
  _, _, _, _, mask = _batch()
  got = ec.rand_pos_clip_mask(jax.random.PRNGKey(0), -np.ones(B, np.float32), mask, fraction=0.5)
  np.testing.assert_array_equal(got, mask)


def test_top_entropy_matches_reference_and_breaks_ties_by_position():
  _, _, _, ent, mask = _batch()
  got = np.asarray(ec.top_entropy_mask(ent, mask))
  np.testing.assert_array_equal(got, ref.top_entropy_weights(ent, mask, 0.2))
  assert got.sum() == int(0.2 * mask.sum())
  assert ent[got > 0].min() >= ent[(mask > 0) & (got == 0)].max()
  flat = np.asarray(ec.top_entropy_mask(np.ones((B, T), np.float32), mask, top_frac=0.25))
  first = np.flatnonzero(mask.reshape(-1))[: int(0.25 * mask.sum())]
  np.testing.assert_array_equal(np.flatnonzero(flat.reshape(-1)), first)


def test_token_mask_registry_dispatches():
  logp, old, adv, ent, mask = _batch()
  batch = ec.TokenBatch(logp, old, adv, ent, mask)
  key = jax.random.PRNGKey(1)
  fns = ec.TOKEN_MASK_FNS
  assert set(fns) == {"clip_cov", "rand_pos_clip", "top_entropy"}
  uniform = np.asarray(jax.random.uniform(key, (B, T)))
  np.testing.assert_array_equal(
    fns["clip_cov"](key, batch, clip_ratio=0.05),
    ref.clip_cov_weights(uniform, logp, adv, mask, 0.05, 1.0, 5.0, old_logp=old),
  )
  np.testing.assert_array_equal(
    fns["rand_pos_clip"](key, batch, fraction=0.1),
    ref.rand_pos_clip_weights(uniform, adv, mask, 0.1),
  )
  np.testing.assert_array_equal(
    fns["top_entropy"](key, batch, top_frac=0.3), ref.top_entropy_weights(ent, mask, 0.3)
  )


# -------------------------------------------------------------------------------------------------
# Advantage shaping.


def test_entropy_advantage_matches_reference():
  _, _, adv, ent, _ = _batch()
  shaped = np.asarray(ec.entropy_advantage(adv, ent))
  np.testing.assert_allclose(shaped, ref.entropy_advantage(adv, ent, 0.4, 2.0), rtol=1e-6)
  grad = jax.grad(lambda h: jnp.sum(ec.entropy_advantage(adv, h)))(jnp.asarray(ent))
  assert np.all(np.asarray(grad) == 0.0)  # sg(H)
  a = np.broadcast_to(adv[:, None], (B, T))
  assert np.all(np.sign(shaped) == np.sign(a))
  capped = (0.4 * ent > np.abs(a) / 2) & (a != 0)
  uncapped = 0.4 * ent < np.abs(a) / 2
  assert capped.any() and uncapped.any()  # both branches of the min are exercised


# -------------------------------------------------------------------------------------------------
# λ schedules and controllers.


def test_stage_and_epoch_schedules_match_reference():
  steps = np.arange(21)
  stage = [float(ec.stage_lambda(s, 21)) for s in steps]
  np.testing.assert_allclose(stage, [ref.stage_lambda(s, 21) for s in steps], atol=1e-6)
  assert stage[:11] == [0.0] * 11 and stage[-1] == 1.0
  np.testing.assert_allclose(stage[15], 0.5, atol=1e-6)
  epoch = [float(ec.epoch_lambda(s, 40, num_epochs=4)) for s in range(40)]
  np.testing.assert_allclose(epoch, [ref.epoch_lambda(s, 40, 4) for s in range(40)], atol=1e-6)
  np.testing.assert_allclose(epoch[::10], [0.0, 1 / 3, 2 / 3, 1.0], atol=1e-6)
  assert float(ec.LAMBDA_SCHEDULES["constant"](5, 40, value=0.3)) == pytest.approx(0.3)
  assert ec.LAMBDA_SCHEDULES["stage"] is ec.stage_lambda
  with pytest.raises(ValueError, match="num_epochs"):
    ec.epoch_lambda(0, 40, num_epochs=3)


def test_entropy_guided_lambda_matches_reference():
  entropies = [0.5, 0.4, 0.3, 0.1, 0.15, 0.25, 0.3] + [0.5] * 20 + [0.1] * 3
  state = ec.init_entropy_guided()
  lams = []
  for h in entropies:
    state = ec.update_entropy_guided(state, h)
    lams.append(float(ec.entropy_guided_weights(state)[0]))
  np.testing.assert_allclose(lams, ref.entropy_guided_lambdas(entropies, 0.0, 0.2, 0.05), atol=1e-6)
  assert max(lams) == 1.0  # clipped at 1 during the long high-entropy stretch
  assert float(ec.entropy_guided_weights(state)[1]) == 1.0


def test_entropic_controller_matches_reference():
  entropies = [0.05, 0.1, 0.12, 0.3, 0.5, 0.6, 0.25, 0.2, 0.0, 0.0, 0.0]
  state = ec.init_entropic()
  alphas = []
  for h in entropies:
    state = ec.update_entropic(state, h, target=0.2, kp=2.0, ki=0.5, alpha_max=0.5)
    alphas.append(float(state.alpha))
    pos, neg = ec.entropic_weights(state)
    np.testing.assert_allclose([pos, neg], [1 - alphas[-1], 1 + alphas[-1]], atol=1e-7)
  want = ref.entropic_alphas(entropies, 0.2, 2.0, 0.5, 0.5)
  np.testing.assert_allclose(alphas, want, atol=1e-6)
  assert min(alphas) == -0.5 and max(alphas) > 0  # saturates at -α_max, recovers


def test_entropic_token_weights_target_high_probability_tokens():
  logp, old, adv, _, mask = _batch()
  state = ec.EntroPICState(integral=jnp.float32(0.0), alpha=jnp.float32(0.3))
  all_tokens = ec.entropic_token_weights(state, adv, logp, mask)
  loss_tokens = losses.policy_loss(logp, old, adv, mask, token_weights_BT=all_tokens)[0]
  pos, neg = ec.entropic_weights(state)
  loss_scalar = losses.policy_loss(logp, old, adv, mask, pos_weight=pos, neg_weight=neg)[0]
  np.testing.assert_allclose(loss_tokens, loss_scalar, rtol=1e-6)
  high = np.asarray(ec.entropic_token_weights(state, adv, logp, mask, prob_threshold=0.5))
  likely = np.exp(logp) > 0.5
  a = np.broadcast_to(adv[:, None], (B, T))
  want = np.where(likely & (a > 0), 0.7, np.where(likely & (a < 0), 1.3, 1.0)) * (mask > 0)
  np.testing.assert_allclose(high, want, rtol=1e-6)


def test_controller_registry():
  assert set(ec.CONTROLLERS) == {"adaptive_entropy", "entropy_guided", "entropic"}
  guided = ec.CONTROLLERS["entropy_guided"]
  state = guided.update(guided.init(), 0.5, delta=0.1)
  assert float(guided.value(state)[0]) == pytest.approx(0.1)
  adaptive = ec.CONTROLLERS["adaptive_entropy"]
  assert float(adaptive.value(adaptive.update(adaptive.init(), 0.1, step=0.01))) == pytest.approx(
    0.01
  )
  pic = ec.CONTROLLERS["entropic"]
  assert float(pic.value(pic.update(pic.init(), 0.0))[0]) < 1.0  # too little entropy


# -------------------------------------------------------------------------------------------------
# Closed loop: a softmax "policy" whose likely token is sampled in 5 positive- and 3
# negative-advantage responses each step. With λ = 1 the positive updates dominate and the entropy
# collapses; the controllers must hold it near the target instead.

_ADV = jnp.array([1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0])
_Z0 = jnp.array([2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])


def _plant_step(z, pos_weight, neg_weight, bonus_coef, lr=2.0):
  def loss_fn(z):
    y = jnp.argmax(z)
    logp_B1 = jnp.broadcast_to(jax.nn.log_softmax(z)[y], (8, 1))
    mask = jnp.ones((8, 1))
    loss, _ = losses.policy_loss(
      logp_B1,
      jax.lax.stop_gradient(logp_B1),
      _ADV,
      mask,
      pos_weight=pos_weight,
      neg_weight=neg_weight,
    )
    ent_B1 = jnp.broadcast_to(ec.entropy_from_logits(z), (8, 1))
    return loss + ec.entropy_bonus_loss(ent_B1, mask, bonus_coef)

  z = z - lr * jax.grad(loss_fn)(z)
  return z, ec.entropy_from_logits(z)


def _closed_loop(method, steps, target):
  def body(carry, _):
    z, state = carry
    if method == "grpo":
      z, h = _plant_step(z, 1.0, 1.0, 0.0)
    elif method == "entropy_guided":
      z, h = _plant_step(z, *ec.entropy_guided_weights(state), 0.0)
      state = ec.update_entropy_guided(state, h, target=target)
    elif method == "entropic":
      z, h = _plant_step(z, *ec.entropic_weights(state), 0.0)
      state = ec.update_entropic(state, h, target=target)
    else:
      z, h = _plant_step(z, 1.0, 1.0, ec.adaptive_entropy_coef(state))
      state = ec.update_adaptive_entropy(state, h, target=target, step=0.02)
    return (z, state), h

  init = {
    "grpo": (),
    "entropy_guided": ec.init_entropy_guided(),
    "entropic": ec.init_entropic(),
    "adaptive_entropy": ec.init_adaptive_entropy(),
  }[method]
  _, entropies = jax.jit(lambda: jax.lax.scan(body, (_Z0, init), None, length=steps))()
  return np.asarray(entropies)


@pytest.mark.parametrize(
  "method,target,steps",
  [
    ("entropy_guided", 0.2, 300),
    ("entropic", 0.2, 600),
    ("entropic", 0.6, 600),
    ("adaptive_entropy", 0.2, 300),
  ],
)
def test_controllers_hold_entropy_at_target(method, target, steps):
  collapsed = _closed_loop("grpo", 300, target)
  assert collapsed[-1] < 0.1 and float(ec.entropy_from_logits(_Z0)) > 1.0
  entropies = _closed_loop(method, steps, target)
  tail = entropies[-100:]
  assert abs(tail.mean() - target) < 0.03, (method, tail.mean())
  assert tail.min() > target - 0.1 and tail.max() < target + 0.1
