"""GRPO on DAPO-Math-17K with Qwen2.5-Math-1.5B: the 7B setup at a fifth of the cost (not run here).

What it reproduces: configs/qwen25_math_7b.py (the paper's base GRPO run with the training setup
of its Appendix B and, by overrides, every entropy-control variant) on the smaller model of the
same family, for sweeps that the 7B budget does not allow. Every choice not listed here is the 7B
config's, including where the paper is silent (read its docstring).

Command (on every worker of a TPU VM, see scripts/tpu/README.md):
  python scripts/train.py --config configs/qwen25_math_1p5b.py:v5p-64 --workdir /mnt/runs/grpo_1p5b
  with the downloads in checkpoints/Qwen2.5-Math-1.5B and data/math (relative to the working
  directory) or elsewhere via --config.model.hf_checkpoint, --config.tokenizer.path and
  --config.data.manual_dir.
Arguments after the hardware name, as for 7B: n4 (N = 4, the paper's §7 setting) and small (the
earlier Q = 16 × G = 8 rollout of up to 3072 tokens that the README's memory-plan table measured).
Smoke (~0.4M-parameter stand-in, arithmetic task, CPU, well under a minute):
  python scripts/train.py --config configs/qwen25_math_1p5b.py:smoke --workdir /tmp/smoke_1p5b
Memory plan:
  python scripts/memory_plan.py --config configs/qwen25_math_1p5b.py:h100x8

Hardware (the arg): v5p-64, v4-64 (32 chips each) or h100x8 (8 GPUs); the model's 12 query and
2 kv heads allow at most 2-way tensor parallelism, so the rest of each mesh is FSDP.
Differences from 7B: only the preset, the checkpoint, the meshes and the gradient-accumulation
micro-batches (the same paper batch, Q = 256 prompts × G = 16 samples of up to 4096 tokens, so
that the two models see the same data per step). U = rl.micro_batches gives 4, 1 and 4 rows per
device of the batch axes on v5p-64, v4-64 and h100x8: the most for which the `small` plan, scaled
by rows × (prompt + response) tokens, stays under ~75% of HBM. Whether the paper's batch fits is
decided by scripts/memory_plan.py (not compiled at this size). The one-pass sampler's KV cache is
4096 × 5120 positions × 28 layers × 2 × 2 kv heads × 128 × 2 bytes ≈ 560 GiB: ~17.5 GiB per chip on
32 chips, ~70 GiB of an H100's 80 GB on h100x8 (before parameters and activations).

Status: not run here (no accelerators).
Time (an estimate, not measured): roughly a fifth of 7B's per step (1.54e9 vs 7.6e9 parameters).
Expected result: the same qualitative picture as 7B, token entropy collapsing under GRPO and held
near δ = 0.2 by entropy-guided Positive-Advantage Reweighting.
"""

from configs import common, qwen25_math_7b

# (data, fsdp, tensor) per hardware.
MESHES = {
  "v5p-64": (1, 16, 2),
  "v4-64": (1, 16, 2),
  "h100x8": (1, 4, 2),
}
# Micro-batches per gradient step (rl.micro_batches) at the paper's 4096 rows: 64, 16 and 16 rows
# per micro-batch (see the docstring).
MICRO_BATCHES = {"v5p-64": 64, "v4-64": 256, "h100x8": 256}
# The `small` rollout's (128 rows), chosen from the memory plan (README).
SMALL_MICRO_BATCHES = {"v5p-64": 1, "v4-64": 4, "h100x8": 8}


def get_config(arg=None):
  if "smoke" in common.parse_arg(arg):
    return qwen25_math_7b.smoke_config()
  hardware, variants = qwen25_math_7b.split_arg(arg)
  return qwen25_math_7b.math_config(
    hardware,
    preset="qwen2.5-math-1.5b",
    checkpoint="checkpoints/Qwen2.5-Math-1.5B",
    meshes=MESHES,
    micro_batches=MICRO_BATCHES,
    small_micro_batches=SMALL_MICRO_BATCHES,
    variants=variants,
  )
