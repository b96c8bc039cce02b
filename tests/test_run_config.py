"""Tools that read a run take its config.json unless --config names a file."""

import json
import os

import pytest
from absl import flags

from jax_rlvr.jobs import run_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _parse(argv, monkeypatch):
  # ml_collections reads the overrides off sys.argv, as a tool's command line.
  monkeypatch.setattr("sys.argv", ["tool", *argv])
  values = flags.FlagValues()
  holder = run_config.define_config_flag(argv, flag_values=values)
  flags.DEFINE_string("workdir", None, "", flag_values=values)
  values(["tool", *argv])
  return holder.value


def test_a_run_is_read_with_its_own_config_and_the_overrides_given(tmp_path, monkeypatch):
  config = {"seed": 7, "warmup": {"steps": 3}, "rollout": {"pass_ks": [1, 4]}}
  (tmp_path / "config.json").write_text(json.dumps(config))
  got = _parse([f"--workdir={tmp_path}", "--config.seed=9"], monkeypatch)
  assert (got.seed, got.warmup.steps, got.rollout.pass_ks) == (9, 3, (1, 4))
  with pytest.raises(AttributeError, match="Did you mean"):
    _parse(
      [f"--workdir={tmp_path}", "--config.sede=9"], monkeypatch
    )  # locked: a misspelt field is an error


def test_a_config_file_replaces_the_runs_config(tmp_path, monkeypatch):
  (tmp_path / "config.json").write_text('{"seed": 7}')
  default = os.path.join(REPO, "configs", "default.py")
  got = _parse([f"--workdir={tmp_path}", "--config", f"{default}:smoke"], monkeypatch)
  assert got.num_steps == 3 and "rl" in got


def test_a_directory_without_a_run_stops_with_a_message(tmp_path, monkeypatch):
  with pytest.raises(SystemExit, match="is not a training run's workdir"):
    _parse([f"--workdir={tmp_path}"], monkeypatch)


def test_memory_plan_reads_a_runs_config_json(tmp_path):
  # The run's own config.json (here with an invalid G) is what scripts/memory_plan.py plans: it
  # stops at validation, naming the field, before anything compiles.
  import subprocess
  import sys

  from jax_rlvr import config_files

  config = config_files.get_config(os.path.join(REPO, "configs", "qwen25_math_7b.py") + ":smoke")
  config.rollout.group_size = 1
  (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
  result = subprocess.run(
    [sys.executable, os.path.join(REPO, "scripts", "memory_plan.py"), f"--workdir={tmp_path}"],
    capture_output=True,
    text=True,
    cwd=tmp_path,
    env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
  assert result.returncode != 0
  assert "config.rollout.group_size=1 is invalid" in result.stderr
