"""Dotted-name overrides of a config: {"rl.eps_high": 0.28} sets config.rl.eps_high.

The one walk behind the sweeps of configs/paper/, `scripts/reproduce.py --set`, the fault drill's
config and the tests' small configs.
"""

from __future__ import annotations

from collections.abc import Mapping

import ml_collections


def set_fields(config: ml_collections.ConfigDict, fields: Mapping[str, object]):
  """Sets each dotted field of `fields` in `config` (in place) and returns `config`.

  A field that does not exist is a KeyError, as `--config.a.b=...` is for a locked config: a
  misspelt override must not add a new field that nothing reads. A tuple field keeps its type when
  given a list (a sweep written as JSON or a literal list).
  """
  for field, value in fields.items():
    *path, leaf = field.split(".")
    node = config
    for part in path:
      if part not in node:
        raise KeyError(f"Override {field!r}: no field {part!r} in the config.")
      node = node[part]
    if leaf not in node:
      raise KeyError(f"Override {field!r}: no field {field!r} in the config.")
    node[leaf] = type(node[leaf])(value) if isinstance(node[leaf], tuple) else value
  return config
