"""The entropy probe on a run's checkpoint (scripts/entropy_probe.py): which tokens move entropy.

`probe_checkpoint` rebuilds the run's trainer read-only (nothing of the run is written), restores
the state of one step and applies `jax_rlvr.probe.run_probe` to the rollout the run sampled next.

Shape letters (as in jax_rlvr/__init__.py): B responses.
"""

from __future__ import annotations

import jax
import numpy as np

from jax_rlvr import probe, train


def probe_checkpoint(config, workdir: str, step: int | None = None, settings=("run",)):
  """Runs the probe from a run's checkpoint: the state of global `step` (default: the latest; the
  warm-up's last step means the start of RL, with a fresh RL optimiser), the rollout the run
  sampled next (same prompts and sampling key) and a held-out rollout of the prompts after them.

  Returns one record per variant (`run_probe`) with the step, the GRPO step and the batch's
  accuracy added. `config` must be the run's (as for scripts/eval.py); config.json is not touched.
  """
  trainer = train.Trainer(config, workdir, read_only=True)
  try:
    step = trainer.checkpointer.latest_step() if step is None else step
    if step is None or step < config.warmup.steps:
      raise ValueError(
        f"No RL state at step {step} in {workdir}: probe a checkpoint at or after the warm-up's "
        f"last step {config.warmup.steps} (checkpoint.every sets which steps are kept)."
      )
    state, meta = trainer.checkpointer.restore(trainer.initial_state, step)
    trainer.train_iter.set_state(meta["data"])
    if step == config.warmup.steps:
      state = trainer.start_rl(state)
    batch_size = config.rollout.prompts_per_step * config.rollout.group_size
    with jax.set_mesh(trainer.mesh):
      rollout, rewards_B, _, _ = trainer.sample_and_grade(state, step)
      heldout, _, _, _ = trainer.sample_and_grade(state, step + 1)
      records = trainer.run_probe(
        state, rollout, rewards_B, probe.variants(trainer.hp, batch_size, settings), heldout=heldout
      )
    accuracy = float(np.mean(jax.device_get(rewards_B) > 0.5))
  finally:
    trainer.checkpointer.close()
  rl_steps = step - config.warmup.steps
  return [{"step": step, "rl_step": rl_steps, "accuracy": accuracy, **r} for r in records]
