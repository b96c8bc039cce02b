"""Learning-rate schedules of the optimiser, per optimiser update (optim.schedule).

optax calls a schedule with its update count: the number of updates done before this one. A
GRPO iteration takes N = rl.mini_batches × rl.epochs updates, so a run of num_steps iterations
takes K = num_steps × N; a schedule that spans the run spans K updates, not num_steps.

  constant  linear warm-up over optim.warmup_steps updates, then optim.learning_rate;
  cosine    the same warm-up, then a cosine decay from optim.learning_rate (the peak) to
            optim.final_lr_fraction × optim.learning_rate on the run's last update.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import ml_collections
import optax


def warmup_schedule(learning_rate: float, warmup_steps: int) -> optax.Schedule:
  """Linear warm-up to a constant rate: update k (0-based) uses
  learning_rate · min(1, (k + 1) / warmup_steps). The first update is already a real step (a
  schedule starting at 0 would waste it); warmup_steps 0 acts as 1."""
  warmup = max(warmup_steps, 1)
  return lambda count: learning_rate * jnp.minimum(1.0, (count + 1.0) / warmup)


def cosine_schedule(
  learning_rate: float, warmup_steps: int, num_updates: int, final_fraction: float
) -> optax.Schedule:
  """The same linear warm-up, then a cosine decay that ends on the run's last update.

  With W = max(warmup_steps, 1), K = num_updates and f = final_fraction, update k (0-based,
  k = 0 .. K - 1) uses
    learning_rate · (k + 1) / W                                          for k + 1 < W,
    learning_rate · (f + (1 - f) · ½ (1 + cos(π (k + 1 - W) / (K - W))))  for k + 1 >= W:
  the peak at update W - 1 and f · learning_rate at update K - 1. A run of at most W updates
  ends inside the warm-up.
  """
  warmup = max(warmup_steps, 1)
  schedule = optax.warmup_cosine_decay_schedule(
    init_value=0.0,
    peak_value=learning_rate,
    warmup_steps=warmup,
    decay_steps=max(num_updates, warmup + 1),
    end_value=final_fraction * learning_rate,
  )
  # optax's warm-up starts at 0 for count 0; shifted by one, update k gets (k + 1) / W.
  return lambda count: schedule(count + 1)


def rl_updates(config: ml_collections.ConfigDict) -> int:
  """K, the optimiser updates of the GRPO phase: num_steps × rl.mini_batches × rl.epochs."""
  return config.num_steps * config.rl.mini_batches * config.rl.epochs


def _constant(config: ml_collections.ConfigDict) -> optax.Schedule:
  return warmup_schedule(config.optim.learning_rate, config.optim.warmup_steps)


def _cosine(config: ml_collections.ConfigDict) -> optax.Schedule:
  o = config.optim
  return cosine_schedule(o.learning_rate, o.warmup_steps, rl_updates(config), o.final_lr_fraction)


SCHEDULES: dict[str, Callable[[ml_collections.ConfigDict], optax.Schedule]] = {
  "constant": _constant,
  "cosine": _cosine,
}


def rl_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
  """The GRPO phase's learning rate as a function of the optimiser's update count."""
  return SCHEDULES[config.optim.schedule](config)
