"""KL-to-reference estimators k1 / k2 / k3 and the straight-through variants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_rlvr.rl import kl

from . import numpy_reference as ref

RNG = np.random.default_rng(0)
LOGP = RNG.normal(-1.5, 0.6, (4, 7)).astype(np.float32)
REF_LOGP = (LOGP + RNG.normal(0.0, 0.5, (4, 7))).astype(np.float32)
MASK = (np.arange(7)[None, :] < np.array([7, 2, 5, 4])[:, None]).astype(np.float32)


@pytest.mark.parametrize("estimator", ["k1", "k2", "k3", "k1+", "k3+"])
def test_estimator_value_and_gradient_match_reference(estimator):
  value, grad = jax.value_and_grad(lambda lp: jnp.sum(kl.kl_estimate(lp, REF_LOGP, estimator)))(
    jnp.asarray(LOGP)
  )
  want_value, want_grad = ref.kl_estimate(LOGP, REF_LOGP, estimator)
  np.testing.assert_allclose(
    kl.kl_estimate(LOGP, REF_LOGP, estimator), want_value, rtol=1e-5, atol=1e-7
  )
  np.testing.assert_allclose(value, want_value.sum(), rtol=1e-5)
  np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


def test_straight_through_has_k3_value_and_k2_gradient():
  def total(estimator):
    return lambda lp: jnp.sum(kl.kl_estimate(lp, REF_LOGP, estimator))

  lp = jnp.asarray(LOGP)
  np.testing.assert_allclose(total("k3+")(lp), total("k3")(lp), rtol=1e-6)
  np.testing.assert_allclose(jax.grad(total("k3+"))(lp), jax.grad(total("k2"))(lp), rtol=1e-6)
  assert not np.allclose(jax.grad(total("k3"))(lp), jax.grad(total("k2"))(lp))
  assert np.all(np.asarray(kl.kl_estimate(LOGP, REF_LOGP, "k3")) >= 0.0)


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean"])
def test_kl_loss_matches_reference_and_ignores_padding(agg):
  logp = np.where(MASK > 0, LOGP, -np.inf).astype(np.float32)
  value, (grad, ref_grad) = jax.value_and_grad(
    lambda lp, rp: kl.kl_loss(lp, rp, MASK, estimator="k3", agg=agg), argnums=(0, 1)
  )(jnp.asarray(logp), jnp.asarray(REF_LOGP))
  per_token, per_token_grad = ref.kl_estimate(LOGP, REF_LOGP, "k3")
  coef = ref.agg_coefficients(MASK, agg)
  np.testing.assert_allclose(value, np.sum(coef * per_token), rtol=1e-5)
  np.testing.assert_allclose(grad, coef * per_token_grad, rtol=1e-5, atol=1e-7)
  assert np.all(np.asarray(ref_grad) == 0.0)  # the reference policy is not trained


def test_unknown_estimator_raises():
  with pytest.raises(ValueError, match="estimator"):
    kl.kl_estimate(LOGP, REF_LOGP, "k4")
