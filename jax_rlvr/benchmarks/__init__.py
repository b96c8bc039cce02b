"""Benchmarks of jax_rlvr, alone and side by side with transformers / PyTorch on the same weights.

  timing.py          the timer: median of timed calls, re-timed when other processes load the CPU
  jax_side.py        what jax measures: the f32 matmul peak, read bandwidth, jax_rlvr sampling,
                     the GRPO update and a plain fwd + bwd + AdamW step
  torch_side.py      the peers: transformers `generate` and a PyTorch fwd + bwd + AdamW step
  side_by_side.py    `compare`: every measurement of one run on one machine, with the roofline
  single_library.py  jax_rlvr alone on random weights of a preset (`scripts/benchmark.py sample`
                     and `update`)
  markdown.py        a `compare` run's records as Markdown (docs/benchmarks.md)

Every measurement is one record (a JSON-ready dict).
"""
