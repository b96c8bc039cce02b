"""Dotted-name overrides of a config and renamed fields (jax_rlvr/config_fields.py)."""

import json
import os

import pytest

from configs import default as default_config
from configs.paper import base
from jax_rlvr import config_fields, config_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_set_fields_sets_nested_fields_and_keeps_tuples():
  config = default_config.get_config("smoke")
  out = config_fields.set_fields(config, {"rl.eps_high": 0.28, "mesh.shape": [2, 4, 1]})
  assert out is config and config.rl.eps_high == 0.28
  assert config.mesh.shape == (2, 4, 1)


@pytest.mark.parametrize("field", ["rl.eps_hihg", "rll.eps_high"])
def test_a_misspelt_field_is_an_error_not_a_new_field(field):
  config = default_config.get_config("smoke")
  with pytest.raises(KeyError, match=field.split(".")[0]):
    config_fields.set_fields(config, {field: 0.28})
  assert "eps_hihg" not in config.rl


def test_scale_prefixed_overrides_apply_at_their_scale_only():
  overrides = {"rl.eps_high": 0.28, "full/rl.eps_low": 0.1, "toy/rl.eps_low": 0.12}
  config = base.apply_overrides(default_config.get_config("smoke"), overrides, "toy")
  assert (config.rl.eps_high, config.rl.eps_low) == (0.28, 0.12)


def test_an_old_field_name_names_the_current_one():
  config = default_config.get_config("smoke")
  with pytest.raises(KeyError, match="now 'rl.pos_weight_schedule'"):
    config_fields.set_fields(config, {"rl.lambda_schedule": "entropy_guided"})


def test_a_run_written_under_old_names_reads_in_current_names():
  """A committed run's config.json, written when λ's fields were rl.lambda_*, loads with them
  under rl.pos_weight_* and has every rl field of today's config."""
  run = os.path.join(REPO, "docs", "results", "real_offpolicy", "runs", "pos_adv_entropy_guided")
  with open(os.path.join(run, "config.json")) as f:
    written = json.load(f)
  assert written["rl"]["lambda_schedule"] == "entropy_guided"
  config = config_files.load_run_config(run)
  rl = config.rl
  assert (rl.pos_weight_schedule, rl.pos_weight_step, rl.pos_weight_init) == (
    "entropy_guided",
    written["rl"]["lambda_step"],
    written["rl"]["lambda_init"],
  )
  assert not any(k.startswith("lambda_") for k in rl)
  assert set(default_config.get_config("smoke").rl) <= set(rl)
  # Fields added since the run read as what it did.
  added = (rl.controller_reads, config.optim.schedule, config.rollout.engine)
  assert (*added, config.rollout.decode_layout) == ("previous", "constant", "static", "training")
  assert "controller_reads" not in written["rl"]
  for section, fields in default_config.get_config("smoke").items():
    if isinstance(fields, dict) or hasattr(fields, "keys"):
      assert set(fields) <= set(config[section]), section
  both = {"rl": {"lambda_step": 0.05, "pos_weight_step": 0.1}}
  with pytest.raises(ValueError, match="both 'rl.lambda_step'"):
    config_fields.with_current_names(both)


def test_renamed_fields_map_old_names_to_todays_fields():
  """Every renamed field exists under its new name only, so the table never points at a field
  the configs no longer have, and no config keeps an old name."""
  config = default_config.get_config("smoke")
  flat = {f"{section}.{k}" for section, sub in config.items() if hasattr(sub, "items") for k in sub}
  assert set(config_fields.RENAMED_FIELDS.values()) <= flat
  assert not set(config_fields.RENAMED_FIELDS) & flat
  assert not [f for f in flat if f.split(".")[-1].startswith("lambda")]
