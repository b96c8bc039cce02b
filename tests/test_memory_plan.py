"""Memory plan: per-device sizes from compiled programs on fake devices, and eval_shape tests of
the full-scale configs (loaded, validated and built abstractly, nothing allocated)."""

import math

import jax
import pytest

from configs import common, qwen25_math_1p5b, qwen25_math_7b
from jax_rlvr import config_validation, memory_plan, sharding


def _tiny_config():
  c = common.apply_smoke(common.base_config())
  c.rollout.max_new_tokens = 8
  c.model.logprob_chunk_size = 4
  return c


@pytest.fixture(scope="module")
def tiny_rows():
  c = _tiny_config()
  # One layer keeps the compilations short; sharding is per layer, so the comparison holds.
  return {
    (shape, program): memory_plan.measure(c, sharding.make_mesh(shape), program, num_layers=1)
    for shape in ((2, 2, 2), (1, 1, 1))
    for program in memory_plan.PROGRAMS
  }


def test_plan_reports_positive_per_device_sizes(tiny_rows):
  for program in memory_plan.PROGRAMS:
    row = tiny_rows[(2, 2, 2), program]
    assert row.mesh_shape == (2, 2, 2) and row.num_layers == 1 and row.source == "measured"
    assert row.argument > 0 and row.output > 0 and row.temp > 0
    assert row.total == row.argument + row.output + row.temp + row.code - row.alias
  # The update donates parameters and optimiser state: their buffers are aliased to outputs.
  update = tiny_rows[(2, 2, 2), "rl_update"]
  assert 0 < update.alias <= update.argument
  table = memory_plan.markdown_table(list(tiny_rows.values()), hbm_gib=95)
  assert table.count("\n") == 1 + len(tiny_rows) and "of 95 GiB HBM" in table


def test_sharded_mesh_holds_less_per_device(tiny_rows):
  for program in memory_plan.PROGRAMS:
    sharded, single = tiny_rows[(2, 2, 2), program], tiny_rows[(1, 1, 1), program]
    # Parameters split over fsdp × tensor = 4, the batch over data × fsdp = 4.
    assert sharded.argument < 0.5 * single.argument, program
  update_sharded, update_single = (
    tiny_rows[(2, 2, 2), "rl_update"],
    tiny_rows[(1, 1, 1), "rl_update"],
  )
  assert update_sharded.total < update_single.total


def test_extrapolation_is_linear_in_depth():
  a = memory_plan.MemoryStats("rl_update", (1, 8, 4), 1, 10, 10, 100, 0, 10, 1.0)
  b = memory_plan.MemoryStats("rl_update", (1, 8, 4), 2, 13, 13, 150, 0, 13, 1.0)
  full = memory_plan.extrapolate(a, b, 28)
  assert (full.argument, full.temp, full.alias) == (10 + 27 * 3, 100 + 27 * 50, 10 + 27 * 3)
  assert full.source == "extrapolated from L=1,2"
  with pytest.raises(ValueError, match="two depths"):
    memory_plan.extrapolate(b, a, 28)


FULL_SCALE = [
  (qwen25_math_7b, "qwen2.5-math-7b", 7.6e9),
  (qwen25_math_1p5b, "qwen2.5-math-1.5b", 1.54e9),
]


@pytest.mark.parametrize("module, preset, expected_params", FULL_SCALE)
@pytest.mark.parametrize("hardware", sorted(qwen25_math_7b.HARDWARE))
@pytest.mark.parametrize("variant", ["", ",n4", ",small", ",small,n4"])
def test_full_scale_configs_validate_and_build_abstractly(
  module, preset, expected_params, hardware, variant
):
  config = module.get_config(hardware + variant)
  num_devices = config.hardware.num_devices
  # On all of the target's hosts: each must hold whole rows of every micro-batch.
  config_validation.validate_config(
    config, num_devices=num_devices, num_processes=config.hardware.num_processes
  )
  assert sharding.resolve_mesh_shape(config.mesh.shape, num_devices) == tuple(config.mesh.shape)
  assert config.model.preset == preset and config.model.remat
  cfg = memory_plan.model_config(config)
  assert (cfg.dtype, cfg.param_dtype) == ("bfloat16", "float32")
  assert memory_plan.num_params(cfg) == pytest.approx(expected_params, rel=0.01)
  # Appendix B of the paper, whatever the hardware.
  assert (config.optim.schedule, config.optim.learning_rate, config.num_steps) == (
    "cosine",
    1e-6,
    400,
  )
  assert (config.rollout.temperature, config.rollout.top_p) == (1.0, 1.0)
  assert (config.rl.mini_batches, config.rl.epochs) == ((4, 1) if "n4" in variant else (1, 1))
  rows = config.rollout.prompts_per_step * config.rollout.group_size
  positions = config.data.max_prompt_len + config.rollout.max_new_tokens
  if "small" in variant:
    assert (rows, positions) == (128, cfg.max_seq_len)  # the memory plan's measured shapes
  else:
    assert (config.rollout.prompts_per_step, config.rollout.group_size) == (256, 16)
    assert config.rollout.max_new_tokens == 4096
    # The paper's 4096 new tokens pass the checkpoint's 4096 positions (the config says so).
    assert positions == 1024 + 4096 > cfg.max_seq_len
  # N = 4 keeps the rows of a micro-batch (the memory of the update) of N = 1.
  n1 = module.get_config(hardware + variant.replace(",n4", ""))
  per_micro = lambda c: rows // (c.rl.mini_batches * c.rl.micro_batches)
  assert per_micro(config) == per_micro(n1) or config.rl.micro_batches == 1


def test_full_scale_params_shard_over_the_mesh_without_allocating():
  config = qwen25_math_7b.get_config("h100x8")
  mesh = sharding.make_mesh(config.mesh.shape)  # the 8 fake CPU devices
  live_before = len(jax.live_arrays())
  _, params = memory_plan.abstract_params(memory_plan.model_config(config), mesh)
  assert len(jax.live_arrays()) == live_before
  leaves = jax.tree.leaves(params)
  total = sum(x.size * x.dtype.itemsize for x in leaves)
  per_device = sum(math.prod(x.sharding.shard_shape(x.shape)) * x.dtype.itemsize for x in leaves)
  assert total == pytest.approx(7.6e9 * 4, rel=0.01)  # float32 parameters
  assert per_device < 1.01 * total / 8  # 8 devices; only the norm scales are not split 8 ways


def test_smoke_variants_validate_on_one_device():
  for module in (qwen25_math_7b, qwen25_math_1p5b):
    config = module.get_config("smoke")
    config_validation.validate_config(config, num_devices=1)
    assert config.model.preset == "tiny" and config.data.task == "arithmetic"
  with pytest.raises(ValueError, match="hardware"):
    qwen25_math_7b.get_config("v3-8")
  with pytest.raises(ValueError, match=r"variants \['n4', 'small'\]"):
    qwen25_math_7b.get_config("v5p-64,n8")
