"""Pearson / Spearman of entropy against other metrics across records."""

import math
import warnings

import numpy as np
import pytest

from jax_rlvr.metrics import correlations


def test_monotone_nonlinear_is_spearman_one_pearson_below_one():
  records = [{"entropy": e, "div": e**3, "acc": -e} for e in [0.1, 0.5, 1.0, 2.0, 3.0]]
  out = correlations(records)
  assert out["div"]["spearman"] == pytest.approx(1.0)
  assert out["div"]["pearson"] < 0.99
  assert out["acc"]["spearman"] == pytest.approx(-1.0)
  assert out["acc"]["pearson"] == pytest.approx(-1.0)
  assert out["div"]["n"] == 5


def test_pearson_hand_value_and_explicit_ys():
  records = [{"h": 1, "y": 1}, {"h": 2, "y": 2}, {"h": 3, "y": 4}]
  out = correlations(records, x="h", ys=["y"])
  # Centred x (-1, 0, 1), y (-4/3, -1/3, 5/3): r = 3 / sqrt(2 · 42/9) = 9 / sqrt(84).
  assert out["y"]["pearson"] == pytest.approx(9 / math.sqrt(84))
  assert out["y"]["spearman"] == pytest.approx(1.0)


def test_skips_missing_non_finite_and_non_numeric_values():
  records = [
    {"entropy": 1.0, "m": 1.0, "name": "a", "flag": True},
    {"entropy": 2.0, "m": float("nan")},
    {"entropy": 3.0, "m": 2.0},
    {"entropy": float("inf"), "m": 9.0},
    {"m": 5.0},
    {"entropy": np.float32(4.0), "m": np.int64(4)},
    {"entropy": 5.0, "m": "3"},
  ]
  out = correlations(records)
  assert list(out) == ["m"]
  assert out["m"]["n"] == 3
  assert out["m"]["spearman"] == pytest.approx(1.0)


def test_too_few_points_or_constant_input_give_nan_without_warnings():
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    few = correlations([{"entropy": 1, "y": 1}, {"entropy": 2, "y": 3}])
    flat = correlations([{"entropy": e, "y": 7.0} for e in range(5)])
  assert few["y"]["n"] == 2 and math.isnan(few["y"]["pearson"]) and math.isnan(few["y"]["spearman"])
  assert flat["y"]["n"] == 5 and math.isnan(flat["y"]["pearson"])
  assert math.isnan(flat["y"]["spearman"])
  empty = correlations([], ys=["y"])["y"]
  assert empty["n"] == 0 and math.isnan(empty["pearson"]) and math.isnan(empty["spearman"])
