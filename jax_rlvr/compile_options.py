"""XLA compiler options of jax_rlvr's training programs (the GRPO update and the warm-up step).

On the CPU, XLA already runs each dot through YNNPACK; this option (the flag
`--xla_cpu_experimental_ynn_fusion_type=dot`) also fuses the elementwise work around a dot into
its YNNPACK call, saving passes over memory. On the 2-core CPU of docs/benchmarks.md ("XLA CPU
options") the SmolLM2-shape GRPO update on 8 × 128 tokens ran 1.13× and a plain fwd + bwd +
AdamW step 1.48× faster with it; the sampler gained nothing clear, so it keeps the default.
Float32 throughout, as before: only the order of the dots' sums changes. Other backends get no
options: the target platform decides, not the host's default backend, so a program compiled ahead
of time for a TPU topology on a CPU host gets none. JAX_RLVR_XLA_CPU_DEFAULTS=0 compiles with XLA's
defaults.
"""

from __future__ import annotations

import os

import jax

CPU_TRAINING_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


def training(platform: str | None = None) -> dict:
  """`compiler_options` for `jax.jit` of a training program compiled for `platform` ("cpu",
  "tpu", "gpu"; default: the default backend)."""
  platform = platform or jax.default_backend()
  if platform != "cpu" or os.environ.get("JAX_RLVR_XLA_CPU_DEFAULTS") == "0":
    return {}
  return dict(CPU_TRAINING_OPTIONS)
