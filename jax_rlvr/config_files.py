"""Config files loaded by path (as ml_collections' config_flags does), from any working directory.

A config file imports the shared pieces of the tree it lives in (`from configs import common`,
`from configs.paper import base`), and nothing installs that tree. So before a file is loaded, the
top package of its tree (the topmost directory above the file with an __init__.py, e.g. a
checkout's configs/) is imported from that directory under its own name; its modules then import
as usual. Every place that loads a config comes through here: the scripts' `--config` flag
(`DEFINE_config_file`), the sweep and the figure tables (`load_module`), the fault drills and the
tests (`get_config`).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import types

import ml_collections
from absl import flags
from ml_collections import config_flags

from jax_rlvr import config_fields

# Flags defined by DEFINE_config_file belong to its caller (a script's --help lists them).
flags.disclaim_key_flags()


def package_path(path: str) -> tuple[str, list[str]]:
  """(root, names) of the .py file `path`: root is the parent of the topmost directory above the
  file with an __init__.py (the file's own directory when it is in no package) and names the
  module from there, e.g. ("/checkout", ["configs", "paper", "grpo"])."""
  path = os.path.abspath(path)
  directory = os.path.dirname(path)
  names = [os.path.splitext(os.path.basename(path))[0]]
  while os.path.isfile(os.path.join(directory, "__init__.py")):
    names.insert(0, os.path.basename(directory))
    directory = os.path.dirname(directory)
  return directory, names


def import_tree(path: str) -> None:
  """Makes the package tree of the file `path` importable: imports its top package from its own
  directory, unless it is imported already (from there; from elsewhere it is an ImportError, as
  files of two trees under one name would mix)."""
  root, names = package_path(path)
  if len(names) == 1:
    return  # In no package: there is no tree to import from.
  top = names[0]
  init = os.path.join(root, top, "__init__.py")
  loaded = sys.modules.get(top)
  if loaded is not None:
    where = getattr(loaded, "__file__", None)
    if where is None or os.path.realpath(where) != os.path.realpath(init):
      raise ImportError(
        f"{path} belongs to the package {top!r} in {root}, but {top!r} is already imported from "
        f"{where}: load config files of one tree per process."
      )
    return
  spec = importlib.util.spec_from_file_location(
    top, init, submodule_search_locations=[os.path.dirname(init)]
  )
  module = importlib.util.module_from_spec(spec)
  sys.modules[top] = module
  try:
    spec.loader.exec_module(module)
  except BaseException:
    del sys.modules[top]
    raise


def load_module(path: str) -> types.ModuleType:
  """The module of the .py file `path`, imported under its dotted name in its tree (so
  configs/paper/base.py is the very `configs.paper.base` its sibling files import)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"No config file {path}.")
  import_tree(path)
  _, names = package_path(path)
  if len(names) > 1:
    return importlib.import_module(".".join(names))
  spec = importlib.util.spec_from_file_location(names[0], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config(spec: str) -> ml_collections.ConfigDict:
  """The config that `spec` = "FILE[:arg]" names: FILE's get_config(arg), or get_config() without
  an argument, as `--config FILE[:arg]` loads it (but not locked)."""
  path, sep, arg = spec.partition(":")
  module = load_module(path)
  return module.get_config(arg) if sep else module.get_config()


def renamed_overrides(flag: str, argv) -> list[str]:
  """The `--flag.a.b=value` overrides in `argv` that use a field's old name, each as "old -> new"
  (config_fields.RENAMED_FIELDS)."""
  out = []
  for arg in argv:
    field = arg.removeprefix(f"--{flag}.").split("=", 1)[0] if arg.startswith(f"--{flag}.") else ""
    if field in config_fields.RENAMED_FIELDS:
      out.append(f"--{flag}.{field} -> --{flag}.{config_fields.RENAMED_FIELDS[field]}")
  return out


class _TreeParser(flags.ArgumentParser):
  """Wraps config_flags' parser of `FILE[:arg]`: FILE's tree is made importable first, and an
  override of the command line under a field's old name is refused with the new name (absl
  reports the ValueError as a flags parsing error)."""

  def __init__(self, parser: flags.ArgumentParser, flag: str):
    self.parser, self.flag = parser, flag

  def parse(self, argument):
    renamed = renamed_overrides(self.flag, sys.argv[1:])
    if renamed:
      raise ValueError(f"renamed config fields, use: {'; '.join(renamed)}")
    import_tree(argument.split(":", 1)[0])
    return self.parser.parse(argument)

  def flag_type(self):
    return self.parser.flag_type()


def DEFINE_config_file(
  name: str,
  default: str | None = None,
  help_string: str = "Experiment config file (configs/*.py[:arg]).",
  flag_values: flags.FlagValues = flags.FLAGS,
  lock_config: bool = True,
) -> flags.FlagHolder:
  """config_flags.DEFINE_config_file whose file is loaded with its tree importable: `--name
  FILE[:arg]` and the `--name.a.b=value` overrides, locked (a misspelt field is an error)."""
  holder = config_flags.DEFINE_config_file(
    name, None, help_string, flag_values=flag_values, lock_config=lock_config
  )
  # config_flags parses lazily, through the flag's parser: wrapped before anything is parsed,
  # including the default (parsed at once when --name is not on the command line).
  flag_values[name].parser = _TreeParser(flag_values[name].parser, name)
  if default is not None:
    flag_values.set_default(name, default)
  return holder


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run was trained with (`workdir/config.json`), JSON lists back as tuples,
  renamed fields under their current names (config_fields.RENAMED_FIELDS) and fields added since
  at the values that reproduce the run (config_fields.ADDED_FIELDS)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(
      f"{path} does not exist: {workdir} is not a training run's workdir (pass --config to "
      "read it with a config file)."
    )
  with open(path) as f:
    tree = config_fields.with_added_fields(config_fields.with_current_names(json.load(f)))
  return ml_collections.ConfigDict(_lists_to_tuples(tree))


def _lists_to_tuples(value):
  # Every sequence field of the configs is a tuple; JSON has only lists.
  if isinstance(value, dict):
    return {k: _lists_to_tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_lists_to_tuples(v) for v in value)
  return value
