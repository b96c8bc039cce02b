import itertools
import math

import numpy as np
import pytest

from jax_rlvr.metrics import pass_at_k, summarize_correctness


def _brute_force(n, c, k):
  """Fraction of all k-subsets of n samples (c correct) that contain a correct one."""
  samples = [1] * c + [0] * (n - c)
  subsets = list(itertools.combinations(range(n), k))
  return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize(
  "n,c,k", [(5, 0, 1), (5, 1, 1), (5, 2, 3), (6, 3, 2), (8, 1, 8), (7, 6, 2)]
)
def test_pass_at_k_matches_enumeration(n, c, k):
  assert pass_at_k(n, c, k) == pytest.approx(_brute_force(n, c, k), abs=1e-12)


def test_pass_at_k_closed_form_large_n():
  n, c, k = 64, 5, 16
  expected = 1 - math.comb(n - c, k) / math.comb(n, k)
  assert pass_at_k(n, c, k) == pytest.approx(expected, rel=1e-12)


def test_pass_at_1_is_accuracy_and_bad_input_rejected():
  assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
  with pytest.raises(ValueError, match="k <= n"):
    pass_at_k(4, 1, 5)
  with pytest.raises(ValueError, match="c <= n"):
    pass_at_k(4, 5, 1)


def test_summarize_correctness():
  correct = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
  out = summarize_correctness(correct, ks=(1, 2, 4))
  assert out["avg@4"] == pytest.approx(5 / 12)
  assert out["pass@1"] == pytest.approx(5 / 12)
  assert out["pass@2"] == pytest.approx((0.5 + 0 + 1) / 3)
  assert out["pass@4"] == pytest.approx(2 / 3)
