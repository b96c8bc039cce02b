"""The paper's main setup: GRPO on DAPO-Math-17K with Qwen2.5-Math-7B (full scale, not run here).

What it reproduces: the paper's base experiment (GRPO, token-mean loss, ε_low = ε_high = 0.2, no KL,
no entropy bonus, N = 1) on its main model; the other rows of the headline table are overrides of
this config (see README, "Configs and overrides"), e.g. entropy-guided Positive-Advantage
Reweighting with --config.rl.pos_weight_schedule=entropy_guided, Clip-Higher with
--config.rl.eps_high=0.28, GRPO N = 2 with --config.rl.mini_batches=2.

Command (on every worker of a TPU VM, see scripts/tpu/README.md):
  python scripts/train.py --config configs/qwen25_math_7b.py:v5p-64 --workdir /mnt/runs/grpo_7b
  with the downloads in checkpoints/Qwen2.5-Math-7B (huggingface-cli download
  Qwen/Qwen2.5-Math-7B --local-dir checkpoints/Qwen2.5-Math-7B) and data/math (see
  jax_rlvr/data/math_builders.py), relative to the working directory on every host, or elsewhere
  via --config.model.hf_checkpoint, --config.tokenizer.path and --config.data.manual_dir. The
  workdir must be a directory every host sees (NFS / Filestore, or a bucket mounted with gcsfuse).
Smoke (the same code path on a ~0.4M-parameter stand-in, arithmetic task, CPU, ~30 s):
  python scripts/train.py --config configs/qwen25_math_7b.py:smoke --workdir /tmp/smoke_7b
Memory plan (compiles the update and the sampler for the target mesh on simulated CPU devices):
  python scripts/memory_plan.py --config configs/qwen25_math_7b.py:v5p-64

Hardware (the arg): v5p-64 (32 chips × 95 GiB, 8 hosts), v4-64 (32 chips × 32 GiB), h100x8
(one host, 8 × 80 GB). jax.device_count() is the number of chips (a TPU v4 / v5p slice is named by
its TensorCores, two per chip). Per-device memory of every choice below: README, "Memory plan for
the paper's full-scale runs".

Choices (the paper does not report them; each is a config field):
  * rollout: Q = 16 prompts × G = 8 samples = 128 responses per GRPO step, at temperature 1.0,
    top-p 1.0, up to 3072 new tokens after prompts of up to 1024 tokens (1024 + 3072 = 4096, the
    model's max_position_embeddings; 3072 is the usual response budget of math RL setups on this
    model). With N = 1 the whole rollout batch is one gradient step; to fit in memory its
    gradient is accumulated over rl.micro_batches micro-batches (4 on v5p-64, 16 on v4-64, 32 on
    h100x8, from the memory plan), which leaves N and the update unchanged (rl.mini_batches > 1
    would change N, the paper's off-policy factor).
  * optimiser: AdamW, lr 1e-6 (the usual value for 7B RLVR), 10 warm-up steps, no weight decay,
    gradient clipping at 1.0, no supervised warm-up (warmup.steps = 0).
  * precision: bfloat16 compute with float32 parameters and Adam moments. Storing the parameters in
    bfloat16 would lose the updates: an AdamW step moves a weight by ~lr = 1e-6, far below the
    bfloat16 spacing of a typical weight (~1e-4 at 0.02). Rematerialised blocks (model.remat),
    attention in blocks of 512 queries (model.attention = 'chunked') and logits projected 512
    positions at a time (model.logprob_chunk_size) keep activations small.
  * evaluation: MATH500 with k = 8 samples per question every 50 steps (the paper's Avg@64 /
    Pass@64 on all benchmarks is a separate scripts/eval.py run with --config.eval.k=64).

Status: not run here (no accelerators). The memory plan (compiled on simulated CPU devices) puts
the sampler and the GRPO update within each target's HBM with these settings: README, "Memory plan
for the paper's full-scale runs", has the numbers and what they do not cover.
Time (an estimate, not measured): ~5 minutes per GRPO step on v5p-64, most of it the 3072-step
decode, so ~2 days for 500 steps. Expected result, per the paper: token entropy falling from
~0.3-0.5 to ~0.1 while in-domain Avg@64 rises from ~20 to ~44 (GRPO row of the headline table).
"""

import ml_collections

from configs import common

# Devices as JAX counts them (chips) and their HBM per device.
HARDWARE = {
  "v5p-64": dict(num_devices=32, hbm_gib=95.0),
  "v4-64": dict(num_devices=32, hbm_gib=32.0),
  "h100x8": dict(num_devices=8, hbm_gib=80.0),
}
# (data, fsdp, tensor) per hardware: tensor parallelism over the 28 query / 4 kv heads, FSDP over
# the embedding dimension and the batch.
MESHES = {
  "v5p-64": (1, 8, 4),
  "v4-64": (1, 8, 4),
  "h100x8": (1, 2, 4),
}
# Micro-batches per gradient step (rl.micro_batches), chosen from the memory plan.
MICRO_BATCHES = {"v5p-64": 4, "v4-64": 16, "h100x8": 32}
SMOKE_HARDWARE = dict(num_devices=1, hbm_gib=0.0)


def math_config(
  hardware: str, *, preset: str, checkpoint: str, meshes: dict, micro_batches: dict
) -> ml_collections.ConfigDict:
  """GRPO on DAPO-Math-17K for a Qwen2.5-Math preset on `hardware` (a key of HARDWARE)."""
  if hardware not in HARDWARE:
    raise ValueError(f"Unknown hardware {hardware!r}; choose one of {sorted(HARDWARE)} or smoke.")
  c = common.base_config()
  c.hardware = ml_collections.ConfigDict(dict(name=hardware, **HARDWARE[hardware]))
  c.num_steps = 500

  # The preset has the checkpoint's shapes (used by scripts/memory_plan.py and, with an empty
  # hf_checkpoint, for a random-weight run of the same shape); the checkpoint overrides it.
  c.model.preset = preset
  c.model.hf_checkpoint = checkpoint
  c.model.dtype = "bfloat16"
  c.model.param_dtype = "float32"
  c.model.remat = True
  c.model.logprob_chunk_size = 512
  # Query blocks of 512 keep one [rows, heads, 512, T] block of scores at a time instead of
  # [rows, heads, T, T]; runs on every backend (see ModelConfig.attention for 'cudnn').
  c.model.attention = "chunked"
  c.model.attention_chunk_size = 512
  c.tokenizer.kind = "hf"
  c.tokenizer.path = checkpoint

  # Local files only (jax_rlvr/data/math_builders.py): <manual_dir>/dapo_math_17k/ and
  # <manual_dir>/math_500/. "qwen_boxed" is Qwen2.5-Math's own chat template (\boxed{} answers).
  c.data.task = "math"
  c.data.dataset = "dapo_math_17k"
  c.data.eval_dataset = "math_500"
  c.data.manual_dir = "data/math"
  c.data.template = "qwen_boxed"
  c.data.max_prompt_len = 1024

  c.warmup.steps = 0
  c.rollout.prompts_per_step = 16  # Q
  c.rollout.group_size = 8  # G
  c.rollout.max_new_tokens = 3072
  # Gradient accumulation: each of the N gradient steps sums the gradients of this many
  # micro-batches, so fewer rows are in one backward pass (N and the update are unchanged).
  c.rl.micro_batches = micro_batches[hardware]
  c.rl.old_logp = "recompute"  # bf16 decode and training forward differ by more than rounding

  c.optim.learning_rate = 1e-6
  c.optim.warmup_steps = 10

  c.eval.every = 50
  c.eval.num_prompts = 500
  c.eval.k = 8
  c.eval.pass_ks = (1, 8)
  c.eval.batch_prompts = 16  # 16 × k = 128 rows: the rollout's sampler shapes
  # Research metrics of text tasks: word-level diversity, no answer-token confidence
  # (\boxed{...} is not one token), no arithmetic out-of-domain prompts.
  c.eval.diversity_unit = "word"
  c.eval.answer_marker = ""
  c.eval.ood_num_prompts = 0
  c.checkpoint.every = 50
  c.mesh.shape = meshes[hardware]
  return c


def smoke_config() -> ml_collections.ConfigDict:
  """The full-scale code path (bfloat16 compute, float32 parameters, chunked log-probs, no
  warm-up, lr 1e-6) on the tiny preset and the arithmetic task with the character tokenizer."""
  c = common.apply_smoke(common.base_config())
  c.hardware = ml_collections.ConfigDict(dict(name="smoke", **SMOKE_HARDWARE))
  c.model.dtype = "bfloat16"
  c.model.param_dtype = "float32"
  # As the full configs: rematerialised blocks in the update (the sampler's decode skips remat).
  c.model.remat = True
  c.model.logprob_chunk_size = 16
  c.rl.old_logp = "recompute"
  c.warmup.steps = 0
  c.optim.learning_rate = 1e-6
  c.optim.warmup_steps = 1
  return c


def hardware_arg(args: dict) -> str:
  """The one hardware name in a parsed `get_config` arg."""
  if len(args) != 1:
    raise ValueError(
      f"Give one hardware name, e.g. ':v5p-64', or ':smoke'; choose one of {sorted(HARDWARE)}."
    )
  (hardware,) = args
  return hardware


def get_config(arg=None):
  args = common.parse_arg(arg)
  if args.pop("smoke", False):
    return smoke_config()
  return math_config(
    hardware_arg(args),
    preset="qwen2.5-math-7b",
    checkpoint="checkpoints/Qwen2.5-Math-7B",
    meshes=MESHES,
    micro_batches=MICRO_BATCHES,
  )
