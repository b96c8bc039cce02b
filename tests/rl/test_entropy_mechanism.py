"""The paper's mechanism on a single softmax whose logits are the parameters.

For one position with sampled token y, ratio r and advantage Â, the gradient of the OBJECTIVE w.r.t.
the logits is r(1 - π(y))Â at y and -r·π(v)·Â at every other v, and exactly zero when the token is
clipped; a positive-advantage step on a likely token lowers the entropy, a negative one raises it.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_rlvr.models import scoring
from jax_rlvr.rl import losses

from . import numpy_reference as ref

V = 6
LOGITS = jnp.array([2.0, 0.5, 0.0, -0.3, -1.0, 0.2], jnp.float32)
LIKELY = 0  # π(0) ≈ 0.56


@functools.partial(jax.jit, static_argnames=("dual_clip_c",))
def _objective_grad(logits_V, y, log_r, adv, eps_high=0.2, dual_clip_c=None):
  """d objective / d logits for one token whose ratio is exp(log_r) at these logits."""

  def objective(z):
    logp = jax.nn.log_softmax(z)[y]
    old = jax.lax.stop_gradient(logp) - log_r
    loss, _ = losses.policy_loss(
      logp.reshape(1, 1),
      old.reshape(1, 1),
      jnp.reshape(adv, (1,)),
      jnp.ones((1, 1)),
      eps_high=eps_high,
      dual_clip_c=dual_clip_c,
    )
    return -loss

  return jax.grad(objective)(logits_V)


@pytest.mark.parametrize("y", [LIKELY, 3])
@pytest.mark.parametrize("adv", [1.3, -0.7])
@pytest.mark.parametrize("ratio", [0.9, 1.0, 1.15])
def test_logit_gradient_formula(y, adv, ratio):
  grad = _objective_grad(LOGITS, y, np.log(ratio), adv)
  pi = np.asarray(jax.nn.softmax(LOGITS), np.float64)
  want = -ratio * pi * adv
  want[y] = ratio * (1.0 - pi[y]) * adv
  np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
  "adv,ratio,clipped",
  [
    (1.0, 1.5, True),  # Â > 0, r > 1 + ε_high: clipped on the high side
    (-1.0, 0.5, True),  # Â < 0, r < 1 - ε_low: clipped on the low side
    (1.0, 0.5, False),  # Â > 0 with a small ratio is never clipped
    (-1.0, 1.5, False),  # Â < 0 with a large ratio is never clipped (without dual clip)
  ],
)
def test_clipped_tokens_have_exactly_zero_gradient(adv, ratio, clipped):
  grad = np.asarray(_objective_grad(LOGITS, LIKELY, np.log(ratio), adv))
  if clipped:
    assert np.all(grad == 0.0)
  else:
    assert np.all(np.abs(grad) > 1e-3)


def test_clip_higher_and_dual_clip_gradients():
  # ε_high = 0.28 (Clip-Higher) lets a token with r = 1.25 keep its gradient; 0.2 clips it.
  log_r = np.log(1.25)
  assert np.all(np.asarray(_objective_grad(LOGITS, LIKELY, log_r, 1.0, eps_high=0.2)) == 0.0)
  assert np.all(np.asarray(_objective_grad(LOGITS, LIKELY, log_r, 1.0, eps_high=0.28)) != 0.0)
  # Dual clip: a negative-advantage token with r > c contributes the constant c·Â.
  log_r = np.log(4.0)
  assert np.all(np.asarray(_objective_grad(LOGITS, LIKELY, log_r, -1.0, dual_clip_c=3.0)) == 0.0)
  assert np.all(np.asarray(_objective_grad(LOGITS, LIKELY, log_r, -1.0, dual_clip_c=5.0)) != 0.0)


@jax.jit
def _entropy_after_step_jit(y_B, adv_B, pos_weight, neg_weight, lr=0.5):
  def loss_fn(z):
    logp_B1 = jax.nn.log_softmax(z)[y_B][:, None]
    old_B1 = jax.lax.stop_gradient(logp_B1)
    return losses.policy_loss(
      logp_B1, old_B1, adv_B, jnp.ones_like(logp_B1), pos_weight=pos_weight, neg_weight=neg_weight
    )[0]

  return scoring.entropy_from_logits(LOGITS - lr * jax.grad(loss_fn)(LOGITS))


def _entropy_after_step(y_B, adv_B, pos_weight=1.0, neg_weight=1.0):
  """Entropy of softmax(LOGITS) after one gradient step on a batch of single-token responses."""
  return float(_entropy_after_step_jit(jnp.asarray(y_B), adv_B, pos_weight, neg_weight))


def test_positive_advantage_on_likely_token_lowers_entropy_negative_raises():
  h0 = float(scoring.entropy_from_logits(LOGITS))
  assert _entropy_after_step([LIKELY], jnp.array([1.0])) < h0 - 1e-3
  assert _entropy_after_step([LIKELY], jnp.array([-1.0])) > h0 + 1e-3


def test_sign_weights_select_the_entropy_direction():
  # The likely token sampled under both advantage signs: with equal weights the updates cancel.
  y = [LIKELY, LIKELY, LIKELY, LIKELY]
  adv = jnp.array([1.0, -1.0, 0.5, -0.5])
  h0 = float(scoring.entropy_from_logits(LOGITS))
  assert abs(_entropy_after_step(y, adv) - h0) < 1e-5
  assert _entropy_after_step(y, adv, neg_weight=0.0) < h0 - 1e-3  # "Adv >= 0 only"
  assert _entropy_after_step(y, adv, pos_weight=0.0) > h0 + 1e-3  # "Adv <= 0 only"


def test_first_order_entropy_change_is_minus_covariance():
  # ΔH ≈ -Cov_{a~π}(log π(a), δz_a) for a small logit step δz.
  lr = 1e-3
  y, adv = [LIKELY, 2, 3], jnp.array([1.0, -0.5, 0.8])

  def loss_fn(z):
    logp_B1 = jax.nn.log_softmax(z)[jnp.asarray(y)][:, None]
    return losses.policy_loss(logp_B1, jax.lax.stop_gradient(logp_B1), adv, jnp.ones((3, 1)))[0]

  dz = -lr * np.asarray(jax.grad(loss_fn)(LOGITS), np.float64)
  z = np.asarray(LOGITS, np.float64)
  h0, _ = ref.entropy(z)
  h1, _ = ref.entropy(z + dz)
  pi = np.exp(z) / np.exp(z).sum()
  log_pi = np.log(pi)
  cov = np.sum(pi * (log_pi - pi @ log_pi) * (dz - pi @ dz))
  np.testing.assert_allclose(h1 - h0, -cov, rtol=2e-2)
  assert abs(cov) > 1e-5
