"""Orbax checkpoints with exact resume, damaged-checkpoint fallback, and a SIGTERM flag.

A checkpoint holds two items: `state` (the train-state pytree: params, optimiser state, step,
RNG key, controller states) and `meta` (JSON: the data iterator position and anything else the
host needs to continue exactly where it stopped).

Orbax writes a step into a temporary directory and renames it when complete, so a kill during a
save leaves no step behind (the temporary directory is ignored). A finalised step can still be
unreadable (a truncated or deleted file); `restore_latest` then falls back to the newest readable
step and moves the damaged one to `workdir/checkpoints_damaged/` for inspection.

A checkpoint whose state tree is laid out otherwise than the state being restored is not damaged:
when the difference is keys renamed since it was written (`renamed_keys`, old -> current) it is
read into the current layout; otherwise CheckpointMismatchError names the paths that differ.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import threading
from collections.abc import Mapping

import jax
import orbax.checkpoint as ocp
from absl import logging


class CheckpointMismatchError(ValueError):
  """The checkpoint holds other arrays than the config builds: other shapes (another model) or a
  tree laid out otherwise (another version of the state)."""


def _names(path) -> tuple[str, ...]:
  """A key path as plain names: a stored tree keeps attributes and indices as dict keys."""
  return tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


class Checkpointer:
  """Periodic and final checkpoints in `workdir/checkpoints`.

  read_only: restore only (evaluation): nothing in the directory is created, moved or deleted.
  renamed_keys: keys of the state renamed since older checkpoints were written, old -> current.
  """

  def __init__(
    self,
    workdir: str,
    *,
    every: int,
    max_to_keep: int = 3,
    read_only: bool = False,
    renamed_keys: Mapping[str, str] | None = None,
  ):
    self.every = every
    self.renamed_keys = dict(renamed_keys or {})
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    self.damaged_directory = os.path.abspath(os.path.join(workdir, "checkpoints_damaged"))
    self.read_only = read_only
    self._manager = ocp.CheckpointManager(
      self.directory,
      # Known handlers let `item_metadata` describe a step before anything is restored.
      item_handlers={"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()},
      # Not orbax's read_only option: it logs a warning per manager; this class never saves then.
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=not read_only),
    )

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state, meta: dict, *, force: bool = False) -> bool:
    """Saves when `step` is a multiple of `every` (or `force`). Returns whether it saved.

    Waits for the write to finish, so that a failure (a full disk) is reported here, naming the
    step, and the previous checkpoint is known to be intact.
    """
    if self.read_only:
      raise RuntimeError(f"{self.directory} was opened read-only; not saving step {step}.")
    if not force and (self.every <= 0 or step % self.every):
      return False
    if step in self._manager.all_steps():
      return False
    try:
      self._manager.save(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        force=True,
      )
      self._manager.wait_until_finished()
    except Exception as e:
      no_space = any(
        isinstance(x, OSError) and x.errno == errno.ENOSPC for x in _causes(e)
      ) or "No space left" in str(e)
      what = "the disk is full" if no_space else f"{type(e).__name__}: {e}"
      previous = [s for s in self._manager.all_steps() if s != step]
      raise OSError(
        f"Saving the checkpoint of step {step} in {self.directory} failed ({what}). "
        + (
          f"The previous checkpoint (step {max(previous)}) is intact; free space and rerun to "
          "resume from it."
          if previous
          else "There is no earlier checkpoint."
        )
      ) from e
    return True

  def restore(self, abstract_state, step: int | None = None):
    """Returns (state, meta) of `step` (default: latest), shaped/sharded like `abstract_state`.

    Raises CheckpointMismatchError when the stored arrays have other shapes than
    `abstract_state`'s (a config for another model) or another tree layout than it, renamed keys
    aside, before reading any array.
    """
    step = self._manager.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
    stored = self._manager.item_metadata(step)["state"]
    stored = getattr(stored, "tree", stored)
    self._check_shapes(step, stored, abstract)
    target, to_current = self._stored_layout(step, stored, abstract)
    restored = self._manager.restore(
      step,
      args=ocp.args.Composite(state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()),
    )
    logging.info("Restored checkpoint of step %d.", step)
    return to_current(restored.state), restored.meta

  def _stored_layout(self, step: int, stored, abstract):
    """(the restore target in the checkpoint's own layout, a function taking what is restored
    into `abstract`'s layout): `abstract` itself when the layouts agree."""
    stored_paths = [_names(p) for p, _ in jax.tree_util.tree_flatten_with_path(stored)[0]]
    current = {_names(p): x for p, x in jax.tree_util.tree_flatten_with_path(abstract)[0]}
    if set(stored_paths) == set(current):
      return abstract, lambda state: state
    renamed = {p: tuple(self.renamed_keys.get(k, k) for k in p) for p in stored_paths}
    if set(renamed.values()) != set(current):
      show = lambda paths: ", ".join("/".join(p) for p in sorted(paths)[:4]) or "none"
      raise CheckpointMismatchError(
        f"The checkpoint of step {step} in {self.directory} is laid out otherwise than this "
        f"version's train state: it lacks {show(set(current) - set(renamed.values()))} and has "
        f"{show(set(renamed.values()) - set(current))} besides. It was written by another "
        "version of jax_rlvr; read it with that version."
      )
    logging.info("Checkpoint of step %d has renamed keys; reading it in today's names.", step)
    target = jax.tree_util.tree_map_with_path(lambda p, _: current[renamed[_names(p)]], stored)

    def to_current(state):
      by_path = {renamed[_names(p)]: x for p, x in jax.tree_util.tree_flatten_with_path(state)[0]}
      return jax.tree_util.tree_map_with_path(lambda p, _: by_path[_names(p)], abstract)

    return target, to_current

  def _check_shapes(self, step: int, stored, abstract) -> None:
    have = sorted(tuple(x.shape) for x in jax.tree.leaves(stored))
    want = sorted(tuple(x.shape) for x in jax.tree.leaves(abstract))
    if have != want:
      extra = sorted(set(have) - set(want))[:4]
      missing = sorted(set(want) - set(have))[:4]
      raise CheckpointMismatchError(
        f"The checkpoint of step {step} in {self.directory} was written for another model: it "
        f"holds {len(have)} arrays (shapes such as {extra}) where the config builds {len(want)} "
        f"(shapes such as {missing}). Use the run's own config (config.json) or fix model.* / "
        "tokenizer.*."
      )

  def restore_latest(self, abstract_state):
    """(step, state, meta) of the newest readable checkpoint, or None when there is none.

    A step that cannot be read is moved to `checkpoints_damaged/` (left in place when read-only)
    with one warning naming it, and the next older step is tried. Raises FileNotFoundError naming
    the directory when checkpoints exist but none is readable.
    """
    damaged = []
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        return (step, *self.restore(abstract_state, step))
      except CheckpointMismatchError:
        raise
      except Exception as e:  # Orbax and TensorStore raise many types for unreadable files.
        damaged.append(step)
        if self.read_only:
          where = "left in place (read-only)"
        elif jax.process_index() != 0:  # One process moves it; they all skip it.
          where = "moved aside by process 0"
        else:
          where = self._move_aside(step)
        logging.warning(
          "Checkpoint of step %d in %s cannot be read (%s: %s); %s. Trying an older one.",
          step,
          self.directory,
          type(e).__name__,
          str(e).splitlines()[0][:300] if str(e) else "",
          where,
        )
    if damaged:
      raise FileNotFoundError(
        f"No readable checkpoint in {self.directory}: steps {damaged} are damaged "
        f"({'left in place' if self.read_only else 'moved to ' + self.damaged_directory}). "
        "Remove the workdir's checkpoints to start afresh."
      )
    return None

  def _move_aside(self, step: int) -> str:
    os.makedirs(self.damaged_directory, exist_ok=True)
    target = os.path.join(self.damaged_directory, str(step))
    suffix = 1
    while os.path.exists(target):
      target = os.path.join(self.damaged_directory, f"{step}.{suffix}")
      suffix += 1
    shutil.move(os.path.join(self.directory, str(step)), target)
    self._manager.reload()
    return f"moved to {target}"

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


def _causes(e: BaseException):
  """`e` and the exceptions it was raised from or during (each once)."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    yield e
    e = e.__cause__ or e.__context__
