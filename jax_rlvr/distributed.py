"""Multi-process (multi-host) start-up: `jax.distributed.initialize` from flags or environment."""

from __future__ import annotations

import os

import jax
from absl import logging


def _cluster_environment() -> bool:
  """True inside a multi-host TPU slice or a multi-task Slurm job, where JAX finds the
  coordinator itself."""
  if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
    return True
  return len(os.environ.get("TPU_WORKER_HOSTNAMES", "").split(",")) > 1


def initialize(coordinator_address=None, num_processes=None, process_id=None) -> None:
  """Connects the processes of one run. Explicit arguments win; otherwise a TPU pod or Slurm
  environment is detected; otherwise this is a single-process run and nothing happens."""
  if coordinator_address:
    if num_processes is None or process_id is None:
      raise ValueError("--coordinator_address needs --num_processes and --process_id too.")
    if jax.config.jax_platforms in (None, "", "cpu") or "cpu" in str(jax.config.jax_platforms):
      # CPU processes exchange collectives through gloo (tests, laptops); harmless elsewhere.
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
  elif _cluster_environment():
    jax.distributed.initialize()
  else:
    return
  logging.info(
    "process %d of %d; %d local of %d devices",
    jax.process_index(),
    jax.process_count(),
    jax.local_device_count(),
    jax.device_count(),
  )


def sync(name: str) -> None:
  """A barrier across processes (no-op with one process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)
