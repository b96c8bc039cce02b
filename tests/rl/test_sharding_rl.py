"""Token statistics over the global batch: sharded over 8 devices gives the unsharded selection."""

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from jax_rlvr.rl import losses, token_masks
from tests.numerics import assert_f32_close

from . import numpy_reference as ref

B, T = 16, 12


def _batch():
  rng = np.random.default_rng(0)
  # Shard-dependent statistics: the first half of the batch is far more confident than the second,
  # so per-shard means of log π differ strongly from the global mean.
  logp = rng.normal(-0.3, 0.3, (B, T)) - np.repeat(np.linspace(0.0, 3.0, B)[:, None], T, 1)
  old = logp + rng.normal(0.0, 0.3, (B, T))
  adv = rng.choice([-1.2, -0.5, 0.7, 1.5], B)
  ent = rng.gamma(1.0, 0.5, (B, T))
  mask = np.arange(T)[None, :] < rng.integers(3, T + 1, B)[:, None]
  return [np.asarray(x, np.float32) for x in (logp, old, adv, ent, mask)]


def _sharded(*arrays):
  assert jax.device_count() == 8
  mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
  return [jax.device_put(x, NamedSharding(mesh, PartitionSpec("data"))) for x in arrays]


@jax.jit
def _selections(key, logp, old, adv, ent, mask):
  return {
    "cov": token_masks.token_covariance(logp, adv, mask),
    "clip_cov": token_masks.clip_cov_mask(key, logp, adv, mask, clip_ratio=0.05, old_logp_BT=old),
    "kl_cov": token_masks.kl_cov_mask(logp, adv, mask, kl_ratio=0.05),
    "kl_cov_loss": token_masks.kl_cov_loss(logp, old, adv, mask, kl_ratio=0.05),
    "rand_pos_clip": token_masks.rand_pos_clip_mask(key, adv, mask, fraction=0.1),
    "top_entropy": token_masks.top_entropy_mask(ent, mask),
    "policy_loss": losses.policy_loss(logp, old, adv, mask, pos_weight=0.5)[0],
  }


def test_sharded_selection_equals_unsharded():
  arrays = _batch()
  key = jax.random.PRNGKey(0)
  sharded = _sharded(*arrays)
  assert len(sharded[0].sharding.device_set) == 8
  plain = _selections(key, *arrays)
  split = _selections(key, *sharded)
  for name in plain:
    assert_f32_close(split[name], plain[name], err_msg=name)
  # And both are the global-batch selection of the reference, not a per-shard one.
  logp, _, adv, ent, mask = arrays
  np.testing.assert_array_equal(split["kl_cov"], ref.kl_cov_selection(logp, adv, mask, 0.05))
  np.testing.assert_array_equal(split["top_entropy"], ref.top_entropy_weights(ent, mask, 0.2))


def test_per_shard_statistics_would_select_differently():
  # Guards the test above: on this batch, statistics computed shard by shard (2 rows per device)
  # give another KL-Cov selection, so agreement with the global reference is informative.
  logp, _, adv, _, mask = _batch()
  per_shard = np.concatenate(
    [
      ref.kl_cov_selection(logp[i : i + 2], adv[i : i + 2], mask[i : i + 2], 0.05)
      for i in range(0, B, 2)
    ]
  )
  global_sel = ref.kl_cov_selection(logp, adv, mask, 0.05)
  assert not np.array_equal(per_shard, global_sel)
  per_shard_cov = np.concatenate(
    [ref.token_covariance(logp[i : i + 2], adv[i : i + 2], mask[i : i + 2]) for i in range(0, B, 2)]
  )
  assert not np.allclose(
    per_shard_cov, np.asarray(token_masks.token_covariance(*_sharded(logp, adv, mask)))
  )
