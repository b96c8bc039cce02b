"""policy_loss and aggregate_loss: value, gradient and metrics against the NumPy reference."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_rlvr.rl import losses

from . import numpy_reference as ref

B, T = 6, 10
LENGTHS = [T, 3, 0, 7, 1, T]  # one empty response


def _inputs(seed, adv_per_token=False):
  rng = np.random.default_rng(seed)
  logp = rng.normal(-1.5, 0.5, (B, T)).astype(np.float32)
  old = (logp + rng.normal(0.0, 0.4, (B, T))).astype(np.float32)
  if adv_per_token:
    adv = rng.normal(size=(B, T)).astype(np.float32)
    adv[rng.random((B, T)) < 0.2] = 0.0
  else:
    adv = np.array([-1.2, 0.8, 0.5, 0.0, -1.5, 0.9], np.float32)
  mask = (np.arange(T)[None, :] < np.array(LENGTHS)[:, None]).astype(np.float32)
  return logp, old, adv, mask


@functools.partial(jax.jit, static_argnames=("clip", "dual_clip_c", "agg"))
def _loss_and_grad(
  logp,
  old,
  adv,
  mask,
  token_weights,
  eps_low,
  eps_high,
  pos_weight,
  neg_weight,
  clip,
  dual_clip_c,
  agg,
  normaliser=None,
):
  """One compilation per static combination: everything else is traced."""

  def loss_fn(lp):
    return losses.policy_loss(
      lp,
      old,
      adv,
      mask,
      eps_low=eps_low,
      eps_high=eps_high,
      clip=clip,
      dual_clip_c=dual_clip_c,
      pos_weight=pos_weight,
      neg_weight=neg_weight,
      token_weights_BT=token_weights,
      agg=agg,
      normaliser=normaliser,
    )

  return jax.value_and_grad(loss_fn, has_aux=True)(logp)


def _call(
  logp,
  old,
  adv,
  mask,
  *,
  token_weights=None,
  eps_low=0.2,
  eps_high=0.2,
  pos_weight=1.0,
  neg_weight=1.0,
  clip=True,
  dual_clip_c=None,
  agg="token-mean",
  normaliser=None,
):
  """(loss, metrics), grad through _loss_and_grad; token_weights=None is passed as ones."""
  if token_weights is None:
    token_weights = np.ones(np.shape(logp), np.float32)
  return _loss_and_grad(
    jnp.asarray(logp),
    old,
    adv,
    mask,
    token_weights,
    eps_low,
    eps_high,
    pos_weight,
    neg_weight,
    clip,
    dual_clip_c,
    agg,
    normaliser,
  )


CASES = [
  dict(),
  dict(eps_high=0.28),
  dict(eps_low=0.28, eps_high=0.12),
  dict(clip=False),
  dict(dual_clip_c=1.6),
  dict(clip=False, dual_clip_c=1.6),
  dict(pos_weight=0.0),
  dict(neg_weight=0.0),
  dict(pos_weight=0.3, neg_weight=1.7),
  dict(token_weights=True, pos_weight=0.5),
  dict(agg="seq-mean-token-mean"),
  dict(agg="seq-mean-token-sum-norm", dual_clip_c=2.0, pos_weight=0.5),
]


@pytest.mark.parametrize("adv_per_token", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_value_gradient_and_metrics_match_reference(case, adv_per_token):
  logp, old, adv, mask = _inputs(0, adv_per_token)
  case = dict(case)
  token_weights = None
  if case.pop("token_weights", False):
    token_weights = (np.random.default_rng(1).random((B, T)) < 0.7).astype(np.float32)
  (loss, metrics), grad = _call(logp, old, adv, mask, token_weights=token_weights, **case)
  ref_kwargs = {k: v for k, v in case.items() if k != "dual_clip_c"}
  want_loss, want_grad, want_metrics = ref.policy_loss(
    logp, old, adv, mask, dual_c=case.get("dual_clip_c"), token_weights=token_weights, **ref_kwargs
  )
  assert loss.dtype == jnp.float32
  np.testing.assert_allclose(loss, want_loss, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-7)
  assert set(metrics) == set(losses.POLICY_LOSS_METRICS)
  for key, value in metrics.items():
    assert value.shape == () and value.dtype == jnp.float32, key
    np.testing.assert_allclose(value, want_metrics[key], rtol=1e-5, atol=1e-7, err_msg=key)
  # The random data exercise every branch the case enables.
  if case.get("clip", True):
    assert metrics["clip_frac_low"] > 0 and metrics["clip_frac_high"] > 0
  if "dual_clip_c" in case:
    assert metrics["dual_clip_frac"] > 0


def test_sign_weights_scale_without_renormalising():
  logp, old, adv, mask = _inputs(2, adv_per_token=True)

  def loss(**kw):
    return float(_call(logp, old, adv, mask, **kw)[0][0])

  only_neg, only_pos = loss(pos_weight=0.0), loss(neg_weight=0.0)
  # Linear in the weights: each side keeps the full-batch denominator.
  np.testing.assert_allclose(loss(), only_neg + only_pos, rtol=1e-5)
  np.testing.assert_allclose(loss(pos_weight=0.37, neg_weight=2.0), 0.37 * only_pos + 2 * only_neg)
  # "Adv <= 0 only": the sum over negative tokens divided by ALL response tokens.
  ratio = np.exp(logp - old)
  obj = np.where(ratio < 0.8, 0.8 * adv, ratio * adv)
  want = -np.sum(np.where((adv < 0) & (mask > 0), obj, 0.0)) / mask.sum()
  np.testing.assert_allclose(only_neg, want, rtol=1e-5)
  assert loss(pos_weight=0.0, neg_weight=0.0) == 0.0


def test_traced_weights_do_not_recompile():
  logp, old, adv, mask = _inputs(3)
  traces = []

  @jax.jit
  def loss_at(pos_weight):
    traces.append(None)
    return losses.policy_loss(logp, old, adv, mask, pos_weight=pos_weight)[0]

  values = [float(loss_at(jnp.float32(pos_weight))) for pos_weight in (0.0, 0.5, 1.0)]
  assert len(traces) == 1
  assert values[0] != values[1] != values[2]
  np.testing.assert_allclose(
    values[1], float(losses.policy_loss(logp, old, adv, mask, pos_weight=0.5)[0])
  )


def test_token_mean_with_normaliser_is_invariant_to_micro_batching():
  logp, old, adv, mask = _inputs(4, adv_per_token=True)
  total = jnp.sum(mask)
  (full_loss, _), full_grad = _call(logp, old, adv, mask, eps_high=0.28)
  splits = [slice(0, 3), slice(3, 6)]  # equal shapes, unequal token counts: 13 and 18
  parts = [_call(logp[s], old[s], adv[s], mask[s], eps_high=0.28, normaliser=total) for s in splits]
  np.testing.assert_allclose(sum(p[0][0] for p in parts), full_loss, rtol=1e-5)
  np.testing.assert_allclose(np.concatenate([p[1] for p in parts]), full_grad, rtol=1e-5)
  # Without the global count the micro-batch means do not add up to the full-batch loss.
  local = [_call(logp[s], old[s], adv[s], mask[s], eps_high=0.28)[0][0] for s in splits]
  assert not np.isclose(np.mean(local), full_loss, rtol=1e-3)


@pytest.mark.parametrize("agg", ["seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_seq_modes_average_over_equal_micro_batches(agg):
  rng = np.random.default_rng(5)
  logp = rng.normal(-1.0, 0.5, (8, T)).astype(np.float32)
  old = (logp + rng.normal(0.0, 0.3, (8, T))).astype(np.float32)
  adv = rng.normal(size=8).astype(np.float32)
  mask = (np.arange(T)[None, :] < rng.integers(1, T + 1, 8)[:, None]).astype(np.float32)
  (full_loss, _), full_grad = _call(logp, old, adv, mask, agg=agg)
  parts = [_call(logp[s], old[s], adv[s], mask[s], agg=agg) for s in (slice(0, 4), slice(4, 8))]
  np.testing.assert_allclose(np.mean([p[0][0] for p in parts]), full_loss, rtol=1e-5)
  np.testing.assert_allclose(np.concatenate([p[1] for p in parts]) / 2, full_grad, rtol=1e-5)


@pytest.mark.parametrize("agg", losses.AGG_MODES)
def test_whole_batch_normaliser_makes_unequal_micro_batches_sum_to_the_batch(agg):
  rng = np.random.default_rng(6)
  logp = rng.normal(-1.0, 0.5, (8, T)).astype(np.float32)
  old = (logp + rng.normal(0.0, 0.3, (8, T))).astype(np.float32)
  adv = rng.normal(size=8).astype(np.float32)
  mask = (np.arange(T)[None, :] < rng.integers(0, T + 1, 8)[:, None]).astype(np.float32)
  mask[2] = 0  # an empty response, which seq-mean-token-mean leaves out
  (full_loss, _), full_grad = _call(logp, old, adv, mask, agg=agg)
  norm = losses.agg_normaliser(mask, agg)
  splits = (slice(0, 3), slice(3, 8))
  parts = [_call(logp[s], old[s], adv[s], mask[s], agg=agg, normaliser=norm) for s in splits]
  np.testing.assert_allclose(sum(p[0][0] for p in parts), full_loss, rtol=1e-5)
  np.testing.assert_allclose(np.concatenate([p[1] for p in parts]), full_grad, rtol=1e-5)
  ones = np.ones_like(logp[:3])
  expected = ref.aggregate(ones, mask[:3], agg, float(norm))
  np.testing.assert_allclose(losses.aggregate_loss(ones, mask[:3], agg, norm), expected, rtol=1e-6)


def test_seq_mean_token_sum_norm_uses_constant_normaliser():
  # Dr.GRPO: doubling a response's length (same per-token term) doubles its contribution.
  values = np.ones((2, 8), np.float32)
  short = np.array([[1] * 2 + [0] * 6, [1] * 4 + [0] * 4], np.float32)
  np.testing.assert_allclose(
    losses.aggregate_loss(values, short, "seq-mean-token-sum-norm"), 6 / 16
  )
  np.testing.assert_allclose(losses.aggregate_loss(values, short, "seq-mean-token-mean"), 1.0)
  np.testing.assert_allclose(losses.aggregate_loss(values, short, "token-mean"), 1.0)


def test_padding_with_minus_inf_log_probs_stays_finite():
  logp, old, adv, mask = _inputs(6)
  logp = np.where(mask > 0, logp, -np.inf).astype(np.float32)
  old = np.where(mask > 0, old, -np.inf).astype(np.float32)
  (loss, metrics), grad = _call(logp, old, adv, mask)
  assert np.isfinite(loss) and np.all(np.isfinite(grad))
  assert np.all(np.asarray(grad)[mask == 0] == 0.0)
  assert all(np.isfinite(v) for v in metrics.values())


def test_bfloat16_inputs_are_computed_in_float32():
  logp, old, adv, mask = _inputs(7)
  loss, metrics = losses.policy_loss(
    jnp.asarray(logp, jnp.bfloat16), jnp.asarray(old, jnp.bfloat16), adv, mask
  )
  assert loss.dtype == jnp.float32
  assert all(v.dtype == jnp.float32 for v in metrics.values())


def test_invalid_arguments_raise():
  logp, old, adv, mask = _inputs(8)
  with pytest.raises(ValueError, match="agg"):
    losses.policy_loss(logp, old, adv, mask, agg="mean")
  with pytest.raises(ValueError, match="dual_clip_c"):
    losses.policy_loss(logp, old, adv, mask, dual_clip_c=1.0)
