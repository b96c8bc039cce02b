"""Orbax checkpoints with exact resume, and a SIGTERM (preemption) flag.

A checkpoint holds two items: `state` (the train-state pytree: params, optimiser state, step,
RNG key, controller states) and `meta` (JSON: the data iterator position and anything else the
host needs to continue exactly where it stopped).
"""

from __future__ import annotations

import os
import signal
import threading

import jax
import orbax.checkpoint as ocp
from absl import logging


class Checkpointer:
  """Periodic and final checkpoints in `workdir/checkpoints`."""

  def __init__(self, workdir: str, *, every: int, max_to_keep: int = 3):
    self.every = every
    self._manager = ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, "checkpoints")),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
    )

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state, meta: dict, *, force: bool = False) -> bool:
    """Saves when `step` is a multiple of `every` (or `force`). Returns whether it saved."""
    if not force and (self.every <= 0 or step % self.every):
      return False
    if step in self._manager.all_steps():
      return False
    self._manager.save(
      step,
      args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
      force=True,
    )
    return True

  def restore(self, abstract_state, step: int | None = None):
    """Returns (state, meta) of `step` (default: latest), shaped/sharded like `abstract_state`."""
    step = self._manager.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
    restored = self._manager.restore(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
      ),
    )
    logging.info("Restored checkpoint of step %d.", step)
    return restored.state, restored.meta

  def wait(self):
    self._manager.wait_until_finished()

  def close(self):
    self._manager.wait_until_finished()
    self._manager.close()


class PreemptionFlag:
  """Set by SIGTERM (what a TPU VM preemption sends); the train loop polls it between steps,
  saves a checkpoint and exits cleanly. Only installable from the main thread."""

  def __init__(self):
    self._event = threading.Event()
    self._previous = None

  def install(self):
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def _handle(self, signum, frame):
    logging.warning("SIGTERM received: will checkpoint and stop after the current step.")
    self._event.set()

  def is_set(self) -> bool:
    return self._event.is_set()

  def uninstall(self):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None
