"""Entropy terms against the NumPy reference: token entropy, the bonus, Entropy-Adv."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_rlvr.models import scoring
from jax_rlvr.rl import entropy_terms

from . import numpy_reference as ref
from .batches import B, T, token_batch


def test_entropy_from_logits_value_and_gradient():
  logits = np.random.default_rng(0).normal(size=(3, 4, 7)).astype(np.float32)
  value, grad = jax.value_and_grad(lambda z: jnp.sum(scoring.entropy_from_logits(z)))(logits)
  want, want_grad = ref.entropy(logits)
  np.testing.assert_allclose(scoring.entropy_from_logits(logits), want, rtol=1e-5)
  np.testing.assert_allclose(value, want.sum(), rtol=1e-5)
  np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-6)


def test_entropy_ignores_minus_inf_logits():
  logits = jnp.array([1.0, 0.0, -jnp.inf, 0.5])
  value, grad = jax.value_and_grad(scoring.entropy_from_logits)(logits)
  np.testing.assert_allclose(value, ref.entropy(np.array([1.0, 0.0, 0.5]))[0], rtol=1e-6)
  assert np.all(np.isfinite(grad)) and grad[2] == 0.0


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-sum-norm"])
def test_entropy_bonus_value_gradient_and_direction(agg):
  logits = np.random.default_rng(1).normal(size=(B, T, 5)).astype(np.float32)
  _, _, _, _, mask = token_batch()

  def loss_fn(z):
    return entropy_terms.entropy_bonus_loss(scoring.entropy_from_logits(z), mask, 0.002, agg=agg)

  value, grad = jax.value_and_grad(loss_fn)(logits)
  h, dh = ref.entropy(logits)
  coef = ref.agg_coefficients(mask, agg)
  np.testing.assert_allclose(value, -0.002 * np.sum(coef * h), rtol=1e-5)
  np.testing.assert_allclose(grad, -0.002 * coef[..., None] * dh, rtol=1e-4, atol=1e-9)
  # A descent step on the loss raises the entropy of every response token.
  stepped = scoring.entropy_from_logits(logits - 100.0 * grad)
  assert np.all(np.asarray(stepped - scoring.entropy_from_logits(logits))[mask > 0] > 0)


def test_entropy_advantage_matches_reference():
  _, _, adv, ent, _ = token_batch()
  shaped = np.asarray(entropy_terms.entropy_advantage(adv, ent))
  np.testing.assert_allclose(shaped, ref.entropy_advantage(adv, ent, 0.4, 2.0), rtol=1e-6)
  grad = jax.grad(lambda h: jnp.sum(entropy_terms.entropy_advantage(adv, h)))(jnp.asarray(ent))
  assert np.all(np.asarray(grad) == 0.0)  # sg(H)
  a = np.broadcast_to(adv[:, None], (B, T))
  assert np.all(np.sign(shaped) == np.sign(a))
  capped = (0.4 * ent > np.abs(a) / 2) & (a != 0)
  uncapped = 0.4 * ent < np.abs(a) / 2
  assert capped.any() and uncapped.any()  # both branches of the min are exercised


def test_advantage_shaper_registry_binds_the_config_fields():
  _, _, adv, ent, _ = token_batch()
  hp = types.SimpleNamespace(entropy_adv_alpha=0.1, entropy_adv_kappa=4.0)
  np.testing.assert_array_equal(
    entropy_terms.ADVANTAGE_SHAPERS["entropy_adv"](adv, ent, hp),
    entropy_terms.entropy_advantage(adv, ent, alpha=0.1, kappa=4.0),
  )
