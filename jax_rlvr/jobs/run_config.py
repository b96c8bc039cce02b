"""The config of a run for the tools that read one (scripts/eval.py, scripts/entropy_probe.py,
scripts/memory_plan.py).

`define_config_flag` defines absl's `--config` flag before the command line is parsed: with
`--config FILE[:arg]` given, that file; otherwise the run's own `<--workdir>/config.json`
(`config_files.load_run_config`), so a tool reads a run as it was trained, and `--config.a.b=value`
overrides either. Both are locked: a misspelt field is an error.
"""

from __future__ import annotations

import sys

import ml_collections
from absl import flags
from ml_collections import config_flags

from jax_rlvr import config_files


def _flag_value(name: str, argv: list[str]) -> str | None:
  """The value of --name (as '--name=v' or '--name v') in `argv`, before absl parses it."""
  for i, arg in enumerate(argv):
    if arg.startswith(f"--{name}="):
      return arg.split("=", 1)[1]
    if arg == f"--{name}" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def define_config_flag(argv: list[str] | None = None, flag_values=flags.FLAGS):
  """Defines `--config` (see the module docstring) from `argv` (default: the command line) and
  returns its holder."""
  argv = sys.argv[1:] if argv is None else argv
  if _flag_value("config", argv) is not None:
    return config_files.DEFINE_config_file("config", flag_values=flag_values)
  workdir = _flag_value("workdir", argv)
  config = ml_collections.ConfigDict()  # No --workdir: absl reports the missing flag.
  if workdir:
    try:
      config = config_files.load_run_config(workdir)
    except FileNotFoundError as e:
      sys.exit(f"Error: {e}")
  return config_flags.DEFINE_config_dict(
    "config",
    config,
    "The run's config (DIR/config.json).",
    flag_values=flag_values,
    lock_config=True,
  )
