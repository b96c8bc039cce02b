"""jax_rlvr alone on random weights of a preset: `scripts/benchmark.py sample` and `update`.

The measurements are jax_side's (sampling with every row forced to Y new tokens; the GRPO update
jitted and donated as train.py does), timed by timing.time_repeats. Each record adds the model,
its parameter count and the device, and for the update the rl.* settings it ran with.

Shape letters (as in jax_rlvr/__init__.py): B rows sampled in parallel, Q prompts, P prompt tokens.
"""

from __future__ import annotations

import jax
import ml_collections
import numpy as np
from flax import nnx

from jax_rlvr.benchmarks import jax_side
from jax_rlvr.benchmarks.timing import Timer
from jax_rlvr.models import Policy, count_params, get_preset


def _random_policy(model: str, seed: int) -> tuple[Policy, dict]:
  """A policy with random weights of the preset `model`, and the fields naming it in a record."""
  policy = Policy(get_preset(model), rngs=nnx.Rngs(seed))
  fields = {
    "model": model,
    "params": count_params(policy),
    "device": str(jax.devices()[0].device_kind),
  }
  return policy, fields


def sample(
  model: str, batch: int, prompt_len: int, new_tokens: int, timer: Timer, seed: int = 0
) -> dict:
  """New tokens / s of `static.generate` on B random prompts of P tokens (jax_side.jax_sample)."""
  policy, fields = _random_policy(model, seed)
  prompts_BP = np.random.default_rng(seed).integers(0, policy.cfg.vocab_size, (batch, prompt_len))
  return {**jax_side.jax_sample(policy, prompts_BP, new_tokens, timer), **fields}


def update(
  rl_config: ml_collections.ConfigDict,
  model: str,
  prompt_len: int,
  timer: Timer,
  seed: int = 0,
) -> dict:
  """Seconds of one GRPO update (jax_side.jax_grpo_update) on one sampled batch.

  The batch's shape is the config's: rollout.prompts_per_step random prompts of P tokens, each
  sampled rollout.group_size times for rollout.max_new_tokens tokens; rl.* and optim.* configure
  the update.
  """
  policy, fields = _random_policy(model, seed)
  r = rl_config.rollout
  prompts_QP = np.random.default_rng(seed).integers(
    0, policy.cfg.vocab_size, (r.prompts_per_step, prompt_len)
  )
  rollout = jax_side.sample_groups(policy, prompts_QP, r.group_size, r.max_new_tokens)
  settings = {
    name: rl_config.rl[name]
    for name in ("mini_batches", "micro_batches", "old_logp", "share_prompts")
  }
  return {**jax_side.jax_grpo_update(policy, rollout, rl_config, timer), **fields, **settings}
