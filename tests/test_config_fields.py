"""Dotted-name overrides of a config (jax_rlvr/config_fields.py)."""

import pytest

from configs import default as default_config
from configs.paper import base
from jax_rlvr import config_fields


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
