"""Masked entropy aggregates on hand-computed cases."""

import math

import numpy as np
import pytest

from jax_rlvr.metrics import entropy_stats

ENTROPY_BT = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
MASK_BT = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1]])


def test_masked_mean_is_token_level_and_ignores_masked_non_finite():
  values = ENTROPY_BT.copy()
  values[0, 2] = np.inf
  values[1, 1] = np.nan
  assert entropy_stats.masked_mean(values, MASK_BT) == pytest.approx((1 + 2 + 4 + 7 + 8 + 9) / 6)
  assert entropy_stats.mean_token_entropy(ENTROPY_BT, MASK_BT.astype(bool)) == pytest.approx(31 / 6)
  assert math.isnan(entropy_stats.masked_mean(ENTROPY_BT, np.zeros_like(MASK_BT)))


def test_entropy_by_advantage_sign_per_response():
  out = entropy_stats.entropy_by_advantage_sign(ENTROPY_BT, MASK_BT, np.array([0.5, -1.0, 0.0]))
  assert out == pytest.approx(
    {"pos": 1.5, "neg": 4.0, "zero": 8.0, "pos_frac": 2 / 6, "neg_frac": 1 / 6, "zero_frac": 3 / 6}
  )


def test_entropy_by_advantage_sign_per_token_and_tolerance():
  adv_BT = np.array([[1.0, -1.0, 5.0], [1e-9, 0.0, 0.0], [-2.0, -2.0, 3.0]])
  out = entropy_stats.entropy_by_advantage_sign(ENTROPY_BT, MASK_BT, adv_BT)
  assert out["pos"] == pytest.approx((1 + 4 + 9) / 3)
  assert out["neg"] == pytest.approx((2 + 7 + 8) / 3)
  assert math.isnan(out["zero"]) and out["zero_frac"] == 0.0
  tol = entropy_stats.entropy_by_advantage_sign(ENTROPY_BT, MASK_BT, adv_BT, zero_tol=1e-6)
  assert tol["zero"] == pytest.approx(4.0) and tol["pos"] == pytest.approx(5.0)


def test_prompt_entropy_averages_prompt_positions():
  prompt_mask_BT = np.array([[1, 1, 1], [0, 0, 0], [0, 1, 0]])
  assert entropy_stats.prompt_entropy(ENTROPY_BT, prompt_mask_BT) == pytest.approx(14 / 4)
