"""A small random token batch shared by the tests of the entropy-control modules."""

import numpy as np

B, T = 8, 16


def token_batch(seed=0):
  """(logp, old_logp, adv, entropy, mask): [B, T] float32 arrays, adv [B] with both signs and a 0,
  and responses of 4..T tokens."""
  rng = np.random.default_rng(seed)
  logp = rng.normal(-1.0, 1.0, (B, T)).astype(np.float32)
  old = (logp + rng.normal(0.0, 0.3, (B, T))).astype(np.float32)
  adv = np.array([1.5, -1.0, 0.8, 0.0, -0.6, 1.1, -1.4, 0.3], np.float32)
  ent = rng.gamma(1.0, 0.5, (B, T)).astype(np.float32)
  mask = (np.arange(T)[None, :] < rng.integers(4, T + 1, B)[:, None]).astype(np.float32)
  return logp, old, adv, ent, mask
