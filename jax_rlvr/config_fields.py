"""Dotted-name overrides of a config: {"rl.eps_high": 0.28} sets config.rl.eps_high.

The one walk behind the sweeps of configs/paper/, `scripts/reproduce.py --set`, the fault drill's
config and the tests' small configs; and the tables of renamed and added fields, by which a run's
config.json written under old names, or before a field existed, reads as today's config.
"""

from __future__ import annotations

from collections.abc import Mapping

import ml_collections

# Renamed fields, old dotted name -> current. λ has one name, pos_weight (the weight of tokens with
# positive advantage), in configs, code and logs; runs written before kept `lambda_*` for its
# schedule's fields.
RENAMED_FIELDS = {
  "rl.lambda_schedule": "rl.pos_weight_schedule",
  "rl.lambda_init": "rl.pos_weight_init",
  "rl.lambda_epochs": "rl.pos_weight_epochs",
  "rl.lambda_step": "rl.pos_weight_step",
}


# Fields added after runs were written, dotted name -> the value that gives what such a run did.
ADDED_FIELDS = {
  "rl.controller_reads": "previous",
  "optim.schedule": "constant",
  "optim.final_lr_fraction": 0.0,
  "rollout.engine": "static",
  "rollout.slots": 0,
  "rollout.page_size": 16,
  "rollout.num_pages": 0,
  "rollout.decode_layout": "training",
}


def with_added_fields(tree: dict) -> dict:
  """A copy of a config as nested dicts (a run's config.json) with every field of ADDED_FIELDS
  it lacks, at the value that reproduces the run."""
  out = {k: with_added_fields(v) if isinstance(v, dict) else v for k, v in tree.items()}
  for field, value in ADDED_FIELDS.items():
    *path, leaf = field.split(".")
    node = out
    for part in path:
      node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
      node.setdefault(leaf, value)
  return out


def with_current_names(tree: dict) -> dict:
  """A copy of a config as nested dicts (a run's config.json) with every field of RENAMED_FIELDS
  under its current name. ValueError when a config holds a field under both names."""
  out = {k: with_current_names(v) if isinstance(v, dict) else v for k, v in tree.items()}
  for old, new in RENAMED_FIELDS.items():
    *path, old_leaf = old.split(".")
    new_leaf = new.split(".")[-1]
    node = out
    for part in path:
      node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or old_leaf not in node:
      continue
    if new_leaf in node:
      raise ValueError(f"The config holds both {old!r} and its current name {new!r}.")
    node[new_leaf] = node.pop(old_leaf)
  return out


def set_fields(config: ml_collections.ConfigDict, fields: Mapping[str, object]):
  """Sets each dotted field of `fields` in `config` (in place) and returns `config`.

  A field that does not exist is a KeyError, as `--config.a.b=...` is for a locked config: a
  misspelt override must not add a new field that nothing reads. A tuple field keeps its type when
  given a list (a sweep written as JSON or a literal list).
  """
  for field, value in fields.items():
    if field in RENAMED_FIELDS:
      raise KeyError(f"Override {field!r}: the field is now {RENAMED_FIELDS[field]!r}.")
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
