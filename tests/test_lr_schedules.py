"""The GRPO optimiser's learning rate per update (optim.schedule), read off its updates."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default as default_config
from jax_rlvr import config_fields, lr_schedules, train_state


def _applied_rates(optimizer, num_updates: int) -> np.ndarray:
  """The rate of each update on one parameter with a constant gradient: Adam's bias-corrected
  moments are then g and g², so the update is -rate · g / (|g| + 1e-8), i.e. -rate for g > 0."""
  params = {"w": jnp.zeros((), jnp.float32)}
  grads = {"w": jnp.full((), 0.5, jnp.float32)}  # below grad_clip: the clip leaves it
  state = optimizer.init(params)
  update = jax.jit(optimizer.update)
  rates = []
  for _ in range(num_updates):
    updates, state = update(grads, state, params)
    rates.append(-float(updates["w"]))
  return np.array(rates)


def _cosine_reference(k, peak, warmup, total, final):
  """Update k's rate, written out: linear warm-up to the peak at update W - 1, then a half cosine
  to final · peak at update K - 1."""
  c = k + 1
  if c < warmup:
    return peak * c / warmup
  return peak * (
    final + (1 - final) * 0.5 * (1 + math.cos(math.pi * (c - warmup) / (total - warmup)))
  )


def test_cosine_rates_applied_span_every_update_of_the_run():
  # 3 GRPO steps × N = 2 mini-batches × 2 epochs = 12 optimiser updates.
  config = config_fields.set_fields(
    default_config.get_config(),
    {
      "num_steps": 3,
      "rl.mini_batches": 2,
      "rl.epochs": 2,
      "optim.schedule": "cosine",
      "optim.learning_rate": 0.5,
      "optim.warmup_steps": 3,
      "optim.final_lr_fraction": 0.1,
      "optim.weight_decay": 0.0,
    },
  )
  K = lr_schedules.rl_updates(config)
  assert K == 12
  rates = _applied_rates(train_state.rl_optimizer(config), K)
  expected = [_cosine_reference(k, 0.5, 3, K, 0.1) for k in range(K)]
  np.testing.assert_allclose(rates, expected, rtol=1e-5)
  assert rates.argmax() == 2 and rates[2] == pytest.approx(0.5, rel=1e-5)  # peak at update W - 1
  assert rates[-1] == pytest.approx(0.05, rel=1e-5)  # final fraction on the last update
  # The decay spans the updates, not the 3 GRPO steps: after 3 updates the rate is still high.
  assert rates[3] > 0.45
  assert np.all(np.diff(rates[2:]) < 0)


def test_constant_schedule_is_the_default_and_unchanged():
  """The default run's optimiser applies exactly the updates of the warm-up-then-constant AdamW
  it had before optim.schedule existed."""
  config = default_config.get_config()
  assert config.optim.schedule == "constant"
  o = config.optim
  warmup = max(o.warmup_steps, 1)
  before = train_state.adamw(
    lambda count: o.learning_rate * jnp.minimum(1.0, (count + 1.0) / warmup), o
  )
  now = train_state.rl_optimizer(config)
  params = {"a": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(4)}
  states = [before.init(params), now.init(params)]
  key = jax.random.key(0)
  for step in range(o.warmup_steps + 3):
    g = jax.random.normal(jax.random.fold_in(key, step), (10,))
    grads = {"a": g[:6].reshape(2, 3), "b": g[6:]}
    (u0, states[0]), (u1, states[1]) = (
      before.update(grads, states[0], params),
      now.update(grads, states[1], params),
    )
    for leaf0, leaf1 in zip(jax.tree.leaves(u0), jax.tree.leaves(u1), strict=True):
      np.testing.assert_array_equal(leaf0, leaf1)
  rates = _applied_rates(train_state.rl_optimizer(config), o.warmup_steps + 2)
  expected = [o.learning_rate * min(1.0, (k + 1) / warmup) for k in range(o.warmup_steps + 2)]
  np.testing.assert_allclose(rates, expected, rtol=1e-5)


def test_a_run_shorter_than_its_warmup_stays_in_the_warmup():
  # Smoke runs of the full-scale configs: 2 updates, 10 warm-up updates.
  schedule = lr_schedules.cosine_schedule(1.0, 10, 2, 0.0)
  np.testing.assert_allclose([schedule(0), schedule(1)], [0.1, 0.2], rtol=1e-6)
