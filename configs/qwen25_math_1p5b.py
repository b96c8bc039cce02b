"""GRPO on DAPO-Math-17K with Qwen2.5-Math-1.5B: the 7B setup at a fifth of the cost (not run here).

What it reproduces: configs/qwen25_math_7b.py (the paper's base GRPO run and, by overrides, every
entropy-control variant) on the smaller model of the same family, for sweeps that the 7B budget
does not allow. Every choice not listed here is the 7B config's (read its docstring).

Command (on every worker of a TPU VM, see scripts/tpu/README.md):
  python scripts/train.py --config configs/qwen25_math_1p5b.py:v5p-64 --workdir /mnt/runs/grpo_1p5b
  with the downloads in checkpoints/Qwen2.5-Math-1.5B and data/math (relative to the working
  directory) or elsewhere via --config.model.hf_checkpoint, --config.tokenizer.path and
  --config.data.manual_dir.
Smoke (~0.4M-parameter stand-in, arithmetic task, CPU, well under a minute):
  python scripts/train.py --config configs/qwen25_math_1p5b.py:smoke --workdir /tmp/smoke_1p5b
Memory plan:
  python scripts/memory_plan.py --config configs/qwen25_math_1p5b.py:h100x8

Hardware (the arg): v5p-64, v4-64 (32 chips each) or h100x8 (8 GPUs); the model's 12 query and
2 kv heads allow at most 2-way tensor parallelism, so the rest of each mesh is FSDP.
Differences from 7B: only the preset, the checkpoint, the meshes and the gradient-accumulation
micro-batches (the same Q = 16 prompts × G = 8 samples, so that the two models see the same data
per step).

Status: not run here (no accelerators); the memory plan puts the update and the sampler within
each target's HBM with these settings (README, "Memory plan for the paper's full-scale runs").
Time (an estimate, not measured): roughly half a day of v5p-64 time for 500 GRPO steps. Expected
result: the same qualitative picture as 7B, token entropy collapsing under GRPO and held near
δ = 0.2 by entropy-guided Positive-Advantage Reweighting.
"""

from configs import common, qwen25_math_7b

# (data, fsdp, tensor) per hardware.
MESHES = {
  "v5p-64": (1, 16, 2),
  "v4-64": (1, 16, 2),
  "h100x8": (1, 4, 2),
}
# Micro-batches per gradient step (rl.micro_batches), chosen from the memory plan.
MICRO_BATCHES = {"v5p-64": 1, "v4-64": 4, "h100x8": 8}


def get_config(arg=None):
  args = common.parse_arg(arg)
  if args.pop("smoke", False):
    return qwen25_math_7b.smoke_config()
  hardware = qwen25_math_7b.hardware_arg(args)
  config = qwen25_math_7b.math_config(
    hardware,
    preset="qwen2.5-math-1.5b",
    checkpoint="checkpoints/Qwen2.5-Math-1.5B",
    meshes=MESHES,
    micro_batches=MICRO_BATCHES,
  )
  return config
