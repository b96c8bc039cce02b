"""avg@k and the unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models
Trained on Code", eq. 1): pass@k = E[1 - C(n - c, k) / C(n, k)] over problems.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G samples per prompt.
"""

from __future__ import annotations

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
  """Probability that at least one of k samples, drawn without replacement from n samples of
  which c are correct, is correct. Requires 0 <= c <= n and 1 <= k <= n."""
  if not 0 <= c <= n:
    raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
  if not 1 <= k <= n:
    raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
  if n - c < k:
    return 1.0
  # 1 - prod_{i=n-c+1}^{n} (1 - k/i): the numerically stable form of 1 - C(n-c,k)/C(n,k).
  return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def summarize_correctness(correct_QG: np.ndarray, ks) -> dict[str, float]:
  """correct_QG: [Q, G] 0/1 correctness of G samples for each of Q prompts.

  Returns {"avg@K": mean accuracy, "pass@k": mean unbiased pass@k for each k in ks (k <= K)}.
  """
  correct_QG = np.asarray(correct_QG)
  num_prompts, n = correct_QG.shape
  counts = correct_QG.sum(axis=1).astype(int)
  out = {f"avg@{n}": float(correct_QG.mean())}
  for k in ks:
    if k > n:
      raise ValueError(f"pass@{k} needs at least {k} samples per prompt, got {n}")
    out[f"pass@{k}"] = float(np.mean([pass_at_k(n, int(c), k) for c in counts]))
  return out
