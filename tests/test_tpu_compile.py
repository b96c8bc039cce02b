"""Programs compiled by the TPU compiler (libtpu) for a topology, on this CPU-only host.

libtpu allows one process at a time, and a process that used it holds it until it exits: every
test that loads it lives in this file and runs in-process, which run_tests.sh's
`--dist loadfile` keeps in one worker.
"""

import json

import pytest

from configs import qwen25_math_7b
from jax_rlvr import accelerators, compile_options, memory_plan


def test_compile_options_follow_the_target_platform():
  """The CPU-only YNNPACK option never reaches the TPU compiler, even from a CPU host."""
  assert compile_options.training("cpu") == compile_options.CPU_TRAINING_OPTIONS
  assert compile_options.training("tpu") == {} and compile_options.training("gpu") == {}


def test_hardware_names_map_to_topology_spellings():
  assert accelerators.resolve_topology("v5p-64") == ("v5p:2x4x4", None)
  assert accelerators.resolve_topology("v4-64") == ("v4:2x4x4", "megacore")
  assert accelerators.resolve_topology("v5p:2x2x1") == ("v5p:2x2x1", None)
  with pytest.raises(ValueError, match=r"Unknown TPU topology 'v5p-9'.*v5p:2x4x4"):
    accelerators.resolve_topology("v5p-9")
  for config_hardware in qwen25_math_7b.HARDWARE:
    if config_hardware.startswith("v"):
      assert config_hardware in accelerators.HARDWARE_TOPOLOGIES


def _libtpu():
  pytest.importorskip("libtpu", reason="the tpu extra is not installed")


def test_libtpu_refuses_a_malformed_topology_with_the_accepted_spellings():
  _libtpu()
  with pytest.raises(ValueError, match=r"libtpu refused the topology 'v5p:3x3x3'.*v5p:2x2x1"):
    accelerators.topology_devices("v5p:3x3x3")
  devices = accelerators.topology_devices("v5p-64")
  assert len(devices) == 32 and accelerators.chip(devices[0]).name == "v5p"
  assert len(accelerators.topology_devices("v4-64")) == 32  # one device per chip (megacore)


def test_a_mesh_that_is_not_the_chip_count_is_refused_before_compiling():
  _libtpu()
  devices = accelerators.topology_devices("v5p:2x2x1")
  config = qwen25_math_7b.get_config("smoke")
  config.mesh.shape = (2, 1, 1)
  with pytest.raises(ValueError, match="covers 2 devices but the topology has 4 chips"):
    memory_plan.topology_mesh(config, devices)
  config.mesh.shape = (-1, 1, 1)
  assert dict(memory_plan.topology_mesh(config, devices).shape)["data"] == 4


def test_the_smoke_config_compiles_for_a_v5p_topology():
  """scripts/memory_plan.py --topology's plan: one JSON line per program of the train loop and
  one for the iteration, with the TPU compiler's per-chip sizes against the chip's HBM."""
  _libtpu()
  lines = []
  returned = memory_plan.tpu_plan(qwen25_math_7b.get_config("smoke"), "v5p:2x2x1", log=lines.append)
  out = "\n".join(lines)
  records = [json.loads(line) for line in lines if line.startswith("{")]
  assert records == returned
  by = {r["program"]: r for r in records}
  assert list(by) == [*memory_plan.TPU_PROGRAMS, "grpo_iteration"]
  for program in memory_plan.TPU_PROGRAMS:
    r = by[program]
    assert (r["device_kind"], r["topology"], r["chips"]) == ("TPU v5", "v5p:2x2x1", 4)
    assert r["bytes_per_chip"] == r["argument"] + r["output"] + r["temp"] + r["code"] - r["alias"]
    assert r["hbm_bytes"] == 95 * 1024**3 and r["fits"]
    assert r["flops"] > 0 and r["bytes_accessed"] > 0 and r["compile_s"] > 0
    # cost_analysis counts the decode loop's body once; the model FLOPs count every token.
    assert r["model_flops"] > 0 and r["roofline_s"] > 0
  assert by["rl_update"]["alias"] > 0  # parameters and optimiser state donated
  assert by["generate"]["model_flops"] > by["generate"]["flops"]
  assert by["generate"]["bound"] == "memory" and by["rl_update"]["bound"] == "compute"
  iteration = by["grpo_iteration"]
  assert iteration["roofline_s"] == pytest.approx(
    by["rl_update"]["roofline_s"] + by["generate"]["roofline_s"]
  )
  assert 0 < iteration["mfu"] < 1
  assert "| rl_update | v5p:2x2x1 | 4x1x1 |" in out


@pytest.mark.parametrize("layout", ["training", "tensor"])
def test_no_weight_is_gathered_in_the_decode_loop_in_the_decode_layout(layout):
  """The static sampler compiled for v5p:2x2x1 on a 1 × 2 × 2 mesh (fsdp splits the weights):
  under the training layout its decode loop gathers every matrix of the block at every step;
  under the decode layout (sharding.DECODE_RULES, resharded once before the prefill) it gathers
  no weight, only the logits split over tensor (for the draw)."""
  _libtpu()
  config = qwen25_math_7b.get_config("smoke")
  config.mesh.shape = (1, 2, 2)
  config.rollout.decode_layout = layout
  mesh = memory_plan.topology_mesh(config, accelerators.topology_devices("v5p:2x2x1"))
  record = memory_plan.decode_gathers(config, mesh, num_layers=1)
  if layout == "training":
    # q, k, v, o, gate, up, down: D = 128 by 4 heads, 2 kv heads of 32, F = 384 over tensor = 2,
    # gathered in bfloat16.
    block = 128 * (4 + 2 * 2 + 4) * 32 + 3 * 128 * 384
    assert record["weight_gathers"] >= 7
    assert record["weight_gather_bytes"] >= block * 2 // 2
  else:
    assert record["weight_gathers"] == 0 and record["weight_gather_bytes"] == 0
