"""Faults a run must survive or report clearly: kills, preemption, damaged checkpoints, a full disk,
non-finite training, and grading workers that crash or hang (jax_rlvr/fault_drill.py)."""

import logging
import os
import shutil
import subprocess
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_rlvr import checkpointing, config_files, fault_drill, rl_step, train, train_state
from jax_rlvr.rl import controllers

# The checkout's default config file, whose smoke config the training drills run.
DEFAULT = os.path.join(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "default.py"
)


def _state(value):
  return {"w": jnp.full((4, 3), value, jnp.float32), "b": {"c": jnp.arange(2.0) + value}}


def _checkpointer(workdir, steps=(1, 2, 3)):
  ckpt = checkpointing.Checkpointer(str(workdir), every=1, max_to_keep=10)
  for step in steps:
    ckpt.save(step, _state(step), {"step": step})
  ckpt.close()
  return checkpointing.Checkpointer(str(workdir), every=1, max_to_keep=10)


def test_damaged_latest_checkpoint_falls_back_with_one_warning(tmp_path, caplog):
  _checkpointer(tmp_path).close()
  assert fault_drill.damage_latest_checkpoint(str(tmp_path)) == 3
  # A save killed half-way leaves only a temporary directory, which is ignored.
  os.makedirs(tmp_path / "checkpoints" / "4.orbax-checkpoint-tmp-1234" / "state")
  ckpt = checkpointing.Checkpointer(str(tmp_path), every=1)
  with caplog.at_level(logging.WARNING):
    step, state, meta = ckpt.restore_latest(_state(0))
  ckpt.close()
  assert step == 2 and meta == {"step": 2}
  np.testing.assert_array_equal(state["w"], np.full((4, 3), 2.0, np.float32))
  warnings = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
  assert len(warnings) == 1 and "step 3" in warnings[0]
  # Kept for inspection, not deleted; no longer among the steps.
  assert os.listdir(tmp_path / "checkpoints_damaged" / "3")
  assert sorted(d for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()) == ["1", "2"]


def test_no_readable_checkpoint_names_the_directory(tmp_path):
  _checkpointer(tmp_path, steps=(1,)).close()
  fault_drill.damage_latest_checkpoint(str(tmp_path))
  ckpt = checkpointing.Checkpointer(str(tmp_path), every=1)
  with pytest.raises(FileNotFoundError, match=f"No readable checkpoint in {tmp_path}/checkpoints"):
    ckpt.restore_latest(_state(0))
  ckpt.close()
  empty = checkpointing.Checkpointer(str(tmp_path / "fresh"), every=1)
  assert empty.restore_latest(_state(0)) is None
  empty.close()


def test_checkpoint_of_another_model_is_refused_not_moved(tmp_path):
  ckpt = _checkpointer(tmp_path, steps=(1,))
  other = {"w": jnp.zeros((5, 3)), "b": {"c": jnp.zeros(2)}}
  with pytest.raises(checkpointing.CheckpointMismatchError, match="written for another model"):
    ckpt.restore_latest(other)
  ckpt.close()
  assert not os.path.exists(tmp_path / "checkpoints_damaged")


class _OldEntropyGuidedState(NamedTuple):
  lam: jax.Array


class _OldControllers(NamedTuple):
  """controllers.Controllers as older checkpoints hold it: the entropy-guided λ under `lam`."""

  rl_step: jax.Array
  lam: _OldEntropyGuidedState
  entropy_coef: controllers.AdaptiveEntropyState
  pic: controllers.EntroPICState


def _old_layout(c):
  lam = _OldEntropyGuidedState(c.pos_weight.pos_weight)
  return _OldControllers(c.rl_step, lam, c.entropy_coef, c.pic)


def test_checkpoint_with_renamed_keys_restores_into_the_current_layout(tmp_path):
  """A train state written when λ's controller was `lam` resumes with its values; without the
  rename table the layout is refused, not moved aside as damaged."""
  hp = rl_step.RLHyperParams.from_config(config_files.get_config(DEFAULT + ":smoke"))
  written = controllers.init_controllers(hp)._replace(rl_step=jnp.int32(7))
  written = controllers.update_controllers(written, 0.9, hp)  # λ moves off its initial value
  ckpt = checkpointing.Checkpointer(str(tmp_path), every=1)
  ckpt.save(1, {"controllers": _old_layout(written), "w": jnp.arange(3.0)}, {"step": 1})
  ckpt.close()
  target = {"controllers": controllers.init_controllers(hp), "w": jnp.zeros(3)}

  plain = checkpointing.Checkpointer(str(tmp_path), every=1)
  with pytest.raises(
    checkpointing.CheckpointMismatchError,
    match="lacks controllers/pos_weight/pos_weight and has controllers/lam/lam",
  ):
    plain.restore_latest(target)
  plain.close()
  assert not os.path.exists(tmp_path / "checkpoints_damaged")

  renamed = checkpointing.Checkpointer(
    str(tmp_path), every=1, renamed_keys=train_state.RENAMED_KEYS
  )
  step, state, _ = renamed.restore_latest(target)
  renamed.close()
  assert step == 1 and isinstance(state["controllers"], controllers.Controllers)
  assert float(state["controllers"].pos_weight.pos_weight) == pytest.approx(hp.pos_weight_step)
  for got, want in zip(
    jax.tree.leaves(state), jax.tree.leaves({"c": written, "w": jnp.arange(3.0)}), strict=True
  ):
    np.testing.assert_array_equal(got, want)


def _can_mount(path) -> bool:
  if os.geteuid() != 0 or shutil.which("mount") is None:
    return False
  os.makedirs(path, exist_ok=True)
  ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)]).returncode
  subprocess.run(["umount", str(path)], check=False)
  return ok == 0


def test_disk_full_while_saving_keeps_the_previous_checkpoint(tmp_path):
  if not _can_mount(tmp_path / "probe"):
    pytest.skip("needs root and tmpfs mounts")
  result = fault_drill.disk_full_drill(str(tmp_path / "small"))
  assert result["saved_steps"] >= 1


def test_grading_worker_crash_and_hang_score_zero_within_the_deadline():
  result = fault_drill.grader_drill()
  assert result["replaced_workers"] >= 2 and result["batch_s"] < 5.0


@pytest.mark.slow
def test_non_finite_training_stops_and_is_never_checkpointed(tmp_path):
  config = config_files.get_config(f"{DEFAULT}:smoke")
  config.warmup.learning_rate = 1e30
  config.optim.learning_rate = 1e30
  config.checkpoint.every = 1
  trainer = train.Trainer(config, str(tmp_path))
  with pytest.raises(FloatingPointError, match=r"at step (\d+)") as error:
    trainer.run()
  message = str(error.value)
  assert any(m in message for m in ("sft_loss", "grad_norm", "parameters")), message
  ckpt = checkpointing.Checkpointer(str(tmp_path), every=1, read_only=True)
  for step in ckpt._manager.all_steps():
    state, _ = ckpt.restore(trainer.initial_state, step)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.params)), step
  ckpt.close()


@pytest.mark.slow
def test_sigkill_during_a_save_and_damaged_checkpoint_resume_bit_exactly(tmp_path):
  # The uninterrupted reference runs in this process (saves a start-up); the drill's run is
  # killed once while writing a checkpoint, its newest checkpoint is damaged, and it is resumed.
  reference = str(tmp_path / "reference")
  train.Trainer(fault_drill.drill_config(DEFAULT), reference).run()
  result = fault_drill.kill_drill(str(tmp_path / "killed"), reference, DEFAULT, kills=1)
  assert result["bit_exact"] and result["damaged_step"] is not None
  assert result["killed_during_save"] == 1


@pytest.mark.slow
def test_sigterm_checkpoints_and_exits_cleanly(tmp_path):
  result = fault_drill.sigterm_drill(str(tmp_path / "run"), DEFAULT)
  assert result["exit_code"] == 0 and result["stopped_at_step"] >= 6


def test_hostile_answers_score_zero_and_ordinary_ones_are_graded_right():
  result = fault_drill.grading_load(num=24, hostile_fraction=0.5, batch_size=24, timeout_s=0.5)
  assert result["hostile"] >= 6 and sum(result["stats"].values()) == 24
  assert result["misgraded"] == 0, result["misgraded_examples"]
