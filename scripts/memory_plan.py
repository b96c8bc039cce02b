r"""Per-device memory of a config's RL update and sampler on its target mesh, without the hardware.

  python scripts/memory_plan.py --config configs/qwen25_math_7b.py:v5p-64 \
      [--fit_layers 1,2] [--programs rl_update,generate] [--json_out plan.json]
  python scripts/memory_plan.py --config configs/qwen25_math_7b.py:v5p-64 --topology v5p-64 \
      [--programs rl_update,generate,eval_generate,prompt_entropy] [--json_out plan.json]
  python scripts/memory_plan.py --config configs/qwen25_math_7b.py:v5p-64 --topology v5p-64 \
      --decode_gathers [--fit_layers 1,2]
  python scripts/memory_plan.py --workdir RUN [...]   # the run's own config.json

With --topology (a hardware name such as v5p-64 or a libtpu spelling such as v5p:2x4x4, or the
GPU target h100x8; jax_rlvr/accelerators.py) the programs are compiled by the TPU compiler
(libtpu, the `tpu` extra; for h100x8 XLA:GPU through the `cuda` extra) for that target's chips,
on this host, with no accelerator: the config's mesh is laid over the chips
(its size must be the chip count) and each program prints one JSON line (program, device_kind,
topology, bytes_per_chip, hbm_bytes, flops, bytes_accessed, model_flops, roofline_s, compile_s,
...; jax_rlvr.memory_plan.tpu_record), then one for the GRPO iteration's roofline time and MFU,
and a table. libtpu allows one process at a time. With --decode_gathers as well, the rollout
sampler only, under each rollout.decode_layout ("training", then "tensor"), at the two depths of
--fit_layers (default 1,2) and extrapolated to the full depth: one JSON line each with the
all-gathers in its decode loop and the bytes they output per chip per decode step
(jax_rlvr.memory_plan.decode_gather_plan). Without --topology:

Simulates the config's devices on the CPU (XLA_FLAGS=--xla_force_host_platform_device_count=<n>,
n = config.hardware.num_devices), compiles the programs with abstract inputs only (no weights are
materialised) and prints a Markdown table of per-device sizes next to the chip's HBM, plus one
JSON line per compilation. With --fit_layers L_a,L_b the model is compiled at those two depths and
the full depth is extrapolated linearly (marked in the table). Override any config
field to try a smaller rollout, e.g. --config.rollout.max_new_tokens=1024. The CPU scheduler is
switched to its memory-minimising mode; see jax_rlvr/memory_plan.py for what the numbers mean.
"""

import json
import math
import os

from absl import app, flags

from jax_rlvr.jobs import run_config

_CONFIG = run_config.define_config_flag()
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "A training run whose config.json to plan, when --config is not given."
)
_PROGRAMS = flags.DEFINE_list("programs", ["rl_update", "generate"], "Programs to compile.")
_FIT_LAYERS = flags.DEFINE_list(
  "fit_layers", [], "Two depths L_a,L_b to compile and extrapolate from (default: full depth)."
)
_JSON_OUT = flags.DEFINE_string("json_out", "", "Also write the rows as JSON to this file.")
_TOPOLOGY = flags.DEFINE_string(
  "topology", "", "Compile with the TPU compiler for this topology (e.g. v5p-64, v5p:2x2x1)."
)
_DECODE_GATHERS = flags.DEFINE_bool(
  "decode_gathers", False, "With --topology: the all-gathers in the sampler's decode loop."
)


def _num_devices(config) -> int:
  if "hardware" in config:
    return config.hardware.num_devices
  if -1 in config.mesh.shape:
    raise ValueError("The config has no hardware.num_devices and its mesh.shape has a -1.")
  return math.prod(config.mesh.shape)


def main(argv):
  del argv
  config = _CONFIG.value
  if not config:
    raise app.UsageError("Give --config FILE[:arg] or --workdir RUN.")
  if _TOPOLOGY.value:
    os.environ["JAX_PLATFORMS"] = "cpu"  # the host's backend; libtpu (or CUDA) only compiles
    # The CUDA plugin's version check calls a driver a GPU-less host does not have.
    os.environ.setdefault("JAX_SKIP_CUDA_CONSTRAINTS_CHECK", "1")
    from jax_rlvr import memory_plan

    if _DECODE_GATHERS.value:
      depths = tuple(int(x) for x in _FIT_LAYERS.value) or (1, 2)
      records = memory_plan.decode_gather_plan(config, _TOPOLOGY.value, depths)
    else:
      programs = _PROGRAMS.value if _PROGRAMS.present else memory_plan.TPU_PROGRAMS
      records = memory_plan.tpu_plan(config, _TOPOLOGY.value, programs)
    if _JSON_OUT.value:
      with open(_JSON_OUT.value, "w") as f:
        json.dump(records, f, indent=2)
    return
  num_devices = _num_devices(config)
  # Before jax is imported: simulate the target's devices on the host CPU.
  os.environ["JAX_PLATFORMS"] = "cpu"
  os.environ["XLA_FLAGS"] = " ".join(
    [
      os.environ.get("XLA_FLAGS", ""),
      f"--xla_force_host_platform_device_count={num_devices}",
      "--xla_cpu_enable_concurrency_optimized_scheduler=false",
    ]
  ).strip()

  from jax_rlvr import config_validation, memory_plan, sharding

  config_validation.validate_config(config, num_devices=num_devices)
  mesh = sharding.make_mesh(config.mesh.shape)
  fit_layers = tuple(int(x) for x in _FIT_LAYERS.value) or None
  rows = memory_plan.plan(config, mesh, tuple(_PROGRAMS.value), fit_layers=fit_layers)
  hbm_gib = config.hardware.hbm_gib if "hardware" in config else None
  cfg = memory_plan.model_config(config)
  print(
    f"\n{config.model.preset}: {memory_plan.num_params(cfg) / 1e9:.2f}B parameters "
    f"({cfg.param_dtype}, compute {cfg.dtype}), mesh {dict(mesh.shape)}, "
    f"Q={config.rollout.prompts_per_step} G={config.rollout.group_size} "
    f"P={config.data.max_prompt_len} Y={config.rollout.max_new_tokens} "
    f"mini_batches={config.rl.mini_batches}; GiB per device:\n"
  )
  print(memory_plan.markdown_table(rows, hbm_gib))
  if _JSON_OUT.value:
    with open(_JSON_OUT.value, "w") as f:
      json.dump([r.as_dict() for r in rows], f, indent=2)


if __name__ == "__main__":
  app.run(main)
