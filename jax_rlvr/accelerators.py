"""Accelerators the configs name: TPU and GPU targets to compile for without the hardware, peaks.

A config's `hardware` name ("v5p-64", the Cloud TPU accelerator type: version and TensorCores) maps
to the topology spelling libtpu's compiler takes ("v5p:2x4x4": chips per dimension), in
HARDWARE_TOPOLOGIES, the one table of them. `topology_devices` describes a topology's chips on any
host (`jax.experimental.topologies`, libtpu from the `tpu` extra; no TPU needed), so a Mesh laid
over them takes NamedShardings and `jax.jit(...).lower(...).compile()` runs the real TPU compiler,
as MaxText's train_compile.py does for pods it does not have.

Chip peaks (CHIPS, per chip: dense bf16 FLOP/s, HBM bytes and bandwidth) are the Cloud TPU
documentation's system-architecture tables (cloud.google.com/tpu/docs/v4, /v5e, /v5p, /v6e), used
for roofline estimates only.

GPU targets (GPU_TARGETS: "h100x8") compile the same way through the CUDA plugin (the `cuda` extra,
jax[cuda12]) with no GPU and no driver: the plugin takes a description of the device (XLA's
GpuTargetConfig as text: SM count, memory, bandwidth, compute capability) and a topology
("1x1x8": one host of 8), so long as JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1 is set before jax is
imported (its version check would call the missing driver) and JAX_PLATFORMS=cpu.

libtpu allows one process at a time (a lockfile in /tmp): compile for a TPU in one process only.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Chip:
  """Per-chip peaks of one TPU generation."""

  name: str
  bf16_flops: float  # dense bf16 FLOP/s
  hbm_bytes: int
  hbm_bandwidth: float  # bytes/s
  source: str


_GB = 10**9
_GIB = 1024**3
# device_kind (as libtpu reports it) -> peaks.
CHIPS = {
  "TPU v4": Chip("v4", 275e12, 32 * _GIB, 1200 * _GB, "cloud.google.com/tpu/docs/v4"),
  "TPU v5 lite": Chip("v5e", 197e12, 16 * _GIB, 819 * _GB, "cloud.google.com/tpu/docs/v5e"),
  "TPU v5": Chip("v5p", 459e12, 95 * _GIB, 2765 * _GB, "cloud.google.com/tpu/docs/v5p"),
  "TPU v6 lite": Chip("v6e", 918e12, 32 * _GIB, 1640 * _GB, "cloud.google.com/tpu/docs/v6e"),
  # SXM5: 989 TFLOP/s dense bf16, HBM3 at 3.35 TB/s (NVIDIA H100 Tensor Core GPU datasheet); its
  # "80 GB" is 84,929,347,584 bytes as the device reports it.
  "NVIDIA H100 80GB HBM3": Chip(
    "h100", 989e12, 84_929_347_584, 3350 * _GB, "NVIDIA H100 datasheet"
  ),
}
# H100 SXM5 as the CUDA compiler's target (XLA GpuTargetConfig text): 132 SMs, compute capability
# 9.0, 80 GiB-class HBM3 at 3.35 TB/s, 50 MiB L2, 228 KiB shared memory per SM.
H100_TARGET_CONFIG = """
gpu_device_info {
  threads_per_block_limit: 1024 threads_per_warp: 32 shared_memory_per_block: 49152
  shared_memory_per_core: 233472 threads_per_core_limit: 2048 core_count: 132
  fpus_per_core: 128 block_dim_limit_x: 2147483647 block_dim_limit_y: 65535
  block_dim_limit_z: 65535 memory_bandwidth: 3352320000000 l2_cache_size: 52428800
  clock_rate_ghz: 1.98 device_memory_size: 84929347584 shared_memory_per_block_optin: 232448
  cuda_compute_capability { major: 9 } registers_per_core_limit: 65536
  registers_per_block_limit: 65536
}
platform_name: "CUDA"
dnn_version_info { major: 9 minor: 7 }
device_description_str: "NVIDIA H100 80GB HBM3"
"""
# Config hardware names of GPU machines -> (CUDA topology "slices x hosts x devices", target).
GPU_TARGETS = {"h100x8": ("1x1x8", H100_TARGET_CONFIG)}
# Config hardware names (Cloud TPU accelerator types) -> (topology, chip_config_name). v4 and v5p
# count two TensorCores per chip in the type's number; JAX sees one device per chip (megacore).
HARDWARE_TOPOLOGIES = {
  "v4-8": ("v4:2x2x1", "megacore"),
  "v4-64": ("v4:2x4x4", "megacore"),
  "v5p-8": ("v5p:2x2x1", None),
  "v5p-16": ("v5p:2x2x2", None),
  "v5p-64": ("v5p:2x4x4", None),
  "v5litepod-8": ("v5e:2x4", None),
  "v6e-8": ("v6e:2x4", None),
}
# Topology spellings libtpu accepts (generation:chips per dimension); others of the same form
# may work too.
TOPOLOGY_EXAMPLES = (
  "v4:2x2x1",
  "v4:2x4x4",
  "v5p:2x2x1",
  "v5p:2x2x2",
  "v5p:2x4x4",
  "v5e:2x4",
  "v6e:2x4",
)


def gpu_target_devices(name: str) -> list:
  """The devices of GPU target `name` (GPU_TARGETS), described by the CUDA plugin without a GPU."""
  from jax.experimental import topologies

  topology, target_config = GPU_TARGETS[name]
  try:
    description = topologies.get_topology_desc(
      platform="cuda", topology_name="", target_config=target_config, topology=topology
    )
  except NotImplementedError as e:
    raise RuntimeError(
      "Compiling for a GPU without one needs the CUDA plugin (pip install -e '.[cuda]') and "
      "JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1 set before jax is imported."
    ) from e
  return list(description.devices)


def resolve_topology(name: str) -> tuple[str, str | None]:
  """(topology spelling, chip_config_name) of a hardware name ("v5p-64") or a topology spelling
  ("v5p:2x4x4"; v4 topologies get megacore)."""
  if name in HARDWARE_TOPOLOGIES:
    return HARDWARE_TOPOLOGIES[name]
  if ":" in name:
    return name, ("megacore" if name.startswith("v4:") else None)
  raise ValueError(
    f"Unknown TPU topology {name!r}. Give a hardware name {sorted(HARDWARE_TOPOLOGIES)} or a "
    f"topology spelling such as {', '.join(TOPOLOGY_EXAMPLES)} (generation:chips per dimension), "
    f"or a GPU target {sorted(GPU_TARGETS)}."
  )


def topology_devices(name: str) -> list:
  """The devices (one per chip) of TPU topology `name` (see resolve_topology) or of a GPU target
  (GPU_TARGETS), described on this host; raises ValueError naming the accepted spellings if the
  name is unknown or libtpu refuses it."""
  from jax.experimental import topologies

  if name in GPU_TARGETS:
    return gpu_target_devices(name)
  topology, chip_config = resolve_topology(name)
  kwargs = {"chip_config_name": chip_config} if chip_config else {}
  try:
    description = topologies.get_topology_desc(platform="tpu", topology_name=topology, **kwargs)
  except ModuleNotFoundError as e:
    raise RuntimeError("Compiling for a TPU needs libtpu: pip install -e '.[tpu]'.") from e
  except Exception as e:  # libtpu's own error type; its message is kept
    if "lockfile" in str(e):
      raise RuntimeError(
        "Another process is using libtpu (its lockfile /tmp/libtpu_lockfile): compile for a "
        "TPU in one process at a time."
      ) from e
    raise ValueError(
      f"libtpu refused the topology {topology!r} ({str(e).splitlines()[0]}). Accepted "
      f"spellings include {', '.join(TOPOLOGY_EXAMPLES)} and the hardware names "
      f"{sorted(HARDWARE_TOPOLOGIES)}."
    ) from e
  return list(description.devices)


def chip(device) -> Chip:
  """The peaks of `device`'s chip generation."""
  if device.device_kind not in CHIPS:
    raise ValueError(f"No peaks known for {device.device_kind!r}; add it to CHIPS.")
  return CHIPS[device.device_kind]
