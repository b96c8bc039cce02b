"""Pearson and Spearman correlation of entropy with other metrics across records.

A record is a flat dict of metric values, e.g. one per checkpoint or per run
({"entropy": 0.31, "self_bleu": 0.42, "pass@16": 0.7, "name": "grpo"}).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy import stats

MIN_POINTS = 3


def _as_float(value) -> float | None:
  """The value as a finite float; None if missing, non-numeric (bool, str, ...) or non-finite."""
  if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
    return None
  value = float(value)
  return value if math.isfinite(value) else None


def correlations(
  records: Iterable[Mapping], x: str = "entropy", ys: Sequence[str] | None = None
) -> dict[str, dict[str, float | int]]:
  """{y: {"pearson": r, "spearman": rho, "n": n}} for each metric y against metric x.

  ys defaults to every other key that holds a number in some record, in first-seen order. Each
  pair uses the records where both x and y are finite numbers (n of them); r and rho are NaN when
  n < 3 or either side is constant.
  """
  records = list(records)
  if ys is None:
    ys = []
    for record in records:
      for key, value in record.items():
        if key != x and key not in ys and _as_float(value) is not None:
          ys.append(key)
  out = {}
  for y in ys:
    pairs = [(_as_float(r.get(x)), _as_float(r.get(y))) for r in records]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    xs_n = np.array([a for a, _ in pairs])
    ys_n = np.array([b for _, b in pairs])
    n = len(pairs)
    pearson = spearman = float("nan")
    if n >= MIN_POINTS and np.ptp(xs_n) > 0 and np.ptp(ys_n) > 0:
      pearson = float(stats.pearsonr(xs_n, ys_n).statistic)
      spearman = float(stats.spearmanr(xs_n, ys_n).statistic)
    out[y] = {"pearson": pearson, "spearman": spearman, "n": n}
  return out
