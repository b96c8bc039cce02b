"""GRPO / Dr.GRPO / RLOO advantages against the NumPy reference."""

import jax.numpy as jnp
import numpy as np
import pytest

from jax_rlvr.rl import advantages

from . import numpy_reference as ref


@pytest.mark.parametrize("group_size", [2, 4, 8])
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("std_normalize,ddof", [(True, 1), (True, 0), (False, 1)])
def test_grpo_matches_reference(group_size, binary, std_normalize, ddof):
  rng = np.random.default_rng(group_size)
  rewards = rng.integers(0, 2, 32) if binary else rng.normal(size=32)
  got = advantages.grpo_advantages(
    jnp.asarray(rewards, jnp.float32), group_size, std_normalize=std_normalize, ddof=ddof
  )
  want = ref.grpo_advantages(rewards, group_size, std_normalize=std_normalize, ddof=ddof)
  assert got.dtype == jnp.float32 and got.shape == (32,)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_grpo_default_is_unbiased_std():
  # Group [1, 0, 0, 0]: mean 0.25, unbiased std sqrt(0.75 / 3) = 0.5, population std 0.433.
  got = advantages.grpo_advantages(jnp.array([1.0, 0.0, 0.0, 0.0]), 4)
  np.testing.assert_allclose(got, [1.5, -0.5, -0.5, -0.5], rtol=1e-5)
  population = advantages.grpo_advantages(jnp.array([1.0, 0.0, 0.0, 0.0]), 4, ddof=0)
  np.testing.assert_allclose(population[0], 0.75 / np.sqrt(0.1875), rtol=1e-5)


@pytest.mark.parametrize(
  "fn", [advantages.grpo_advantages, advantages.dr_grpo_advantages, advantages.rloo_advantages]
)
def test_equal_reward_groups_give_exactly_zero(fn):
  # 0.1 and 0.7 are not representable, so the float mean need not equal them exactly.
  rewards = jnp.array([0.1] * 7 + [0.7] * 7 + [1.0] * 7 + [0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
  adv = fn(rewards, 7)
  assert np.all(np.asarray(adv[:21]) == 0.0)
  assert np.all(np.asarray(adv[21:]) != 0.0)


def test_dr_grpo_and_rloo_match_reference():
  rewards = np.random.default_rng(0).normal(size=24)
  np.testing.assert_allclose(
    advantages.dr_grpo_advantages(jnp.asarray(rewards), 6),
    ref.grpo_advantages(rewards, 6, std_normalize=False),
    rtol=1e-5,
    atol=1e-6,
  )
  rloo = advantages.rloo_advantages(jnp.asarray(rewards), 6)
  np.testing.assert_allclose(rloo, ref.rloo_advantages(rewards, 6), rtol=1e-5, atol=1e-6)
  # Leave-one-out is the group-centred reward scaled by G / (G - 1).
  np.testing.assert_allclose(
    rloo, 6 / 5 * ref.grpo_advantages(rewards, 6, std_normalize=False), rtol=1e-5, atol=1e-6
  )


def test_groups_are_contiguous_blocks():
  # Interleaved groups would pair rewards differently: [1, 1 | 0, 0] has two flat groups.
  adv = advantages.grpo_advantages(jnp.array([1.0, 1.0, 0.0, 0.0]), 2)
  assert np.all(np.asarray(adv) == 0.0)
  adv = advantages.grpo_advantages(jnp.array([1.0, 0.0, 1.0, 0.0]), 2)
  assert np.all(np.asarray(adv[::2]) > 0) and np.all(np.asarray(adv[1::2]) < 0)


def test_invalid_group_sizes_raise():
  with pytest.raises(ValueError, match="divide"):
    advantages.grpo_advantages(jnp.zeros(10), 4)
  with pytest.raises(ValueError, match="ddof"):
    advantages.grpo_advantages(jnp.zeros(4), 1)
  with pytest.raises(ValueError, match="RLOO"):
    advantages.rloo_advantages(jnp.zeros(4), 1)


def test_registry_dispatches_by_name():
  rewards = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0])
  fns = advantages.ADVANTAGE_FNS
  assert set(fns) == {"grpo", "dr_grpo", "rloo"}
  want = {
    "grpo": ref.grpo_advantages(rewards, 4),
    "dr_grpo": ref.grpo_advantages(rewards, 4, std_normalize=False),
    "rloo": ref.rloo_advantages(rewards, 4),
  }
  for name, expected in want.items():
    np.testing.assert_allclose(fns[name](jnp.asarray(rewards), 4), expected, rtol=1e-5)
