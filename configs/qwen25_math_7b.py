"""The paper's main setup: GRPO on DAPO-Math-17K with Qwen2.5-Math-7B (full scale, not run here).

What it reproduces: the paper's base experiment (GRPO, token-mean loss, ε_low = ε_high = 0.2, no KL,
no entropy bonus, N = 1) on its main model with the training setup of its Appendix B; the other
rows of the headline table are overrides of this config (see README, "Configs and overrides"),
e.g. entropy-guided Positive-Advantage Reweighting with --config.rl.pos_weight_schedule=
entropy_guided, Clip-Higher with --config.rl.eps_high=0.28 (at N = 4, below).

Command (on every worker of a TPU VM, see scripts/tpu/README.md):
  python scripts/train.py --config configs/qwen25_math_7b.py:v5p-64 --workdir /mnt/runs/grpo_7b
  with the downloads in checkpoints/Qwen2.5-Math-7B (huggingface-cli download
  Qwen/Qwen2.5-Math-7B --local-dir checkpoints/Qwen2.5-Math-7B) and data/math (see
  jax_rlvr/data/math_builders.py), relative to the working directory on every host, or elsewhere
  via --config.model.hf_checkpoint, --config.tokenizer.path and --config.data.manual_dir. The
  workdir must be a directory every host sees (NFS / Filestore, or a bucket mounted with gcsfuse).
Arguments after the hardware name, comma-separated (e.g. configs/qwen25_math_7b.py:v5p-64,n4):
  n4     N = 4 (rl.mini_batches = 4, rl.epochs = 1), the setting of the paper's §7 entropy-control
         comparisons (§6.2 / Appendix E.2: Adv ≥ 0, Adv ≤ 0, Pos-Adv-Reweight and the baselines
         ran with N_update = 4, so their GRPO reference is GRPO N = 4, final entropy 0.0179, not
         the N = 1 row); rl.micro_batches is divided by 4 so that a micro-batch keeps its rows.
  small  the rollout this config had before it took the paper's batch, and that the README's
         memory-plan table measured: Q = 16 prompts × G = 8 samples, up to 3072 new tokens
         (1024 + 3072 = 4096, the checkpoint's max_position_embeddings), rl.micro_batches from
         SMALL_MICRO_BATCHES. Everything else is as below.
Smoke (the same code path on a ~0.4M-parameter stand-in, arithmetic task, CPU, ~30 s):
  python scripts/train.py --config configs/qwen25_math_7b.py:smoke --workdir /tmp/smoke_7b
Memory plan (compiles the update and the sampler for the target mesh on simulated CPU devices):
  python scripts/memory_plan.py --config configs/qwen25_math_7b.py:v5p-64

Hardware (the arg): v5p-64 (32 chips × 95 GiB, 8 hosts), v4-64 (32 chips × 32 GiB, 8 hosts),
h100x8 (one host, 8 × 80 GB). jax.device_count() is the number of chips (a TPU v4 / v5p slice is
named by its TensorCores, two per chip).

The paper's values (Appendix B; §4 and the training-curve figures):
  * rollout: Q = 256 prompts × G = 16 responses = 4096 responses per GRPO step, temperature 1.0,
    top-p 1.0, at most 4096 generated tokens.
  * optimiser: AdamW, cosine learning-rate schedule with peak 1e-6 (optim.schedule = "cosine").
    The decay spans the run's K = num_steps × N optimiser updates (jax_rlvr/lr_schedules.py):
    update k uses 1e-6 · (f + (1 - f) · ½ (1 + cos(π (k + 1 - W) / (K - W)))) after the warm-up of
    W updates. veRL, the paper's trainer, steps its scheduler once per GRPO step, so at N > 1 its
    rate is a staircase of the same curve (the N updates of a step share one value); the two
    differ by less than one step's decay.
  * num_steps = 400: every training-curve figure of the paper runs over 0-400 steps.
  * N = 1 for the GRPO row (rl.mini_batches = rl.epochs = 1); N = 4 for §7 (argument n4).
The paper is silent on the rest; each is a stated choice (this config's earlier one where it had
one):
  * warm-up: 10 optimiser updates (optim.warmup_steps); veRL's default is none.
  * end of the cosine: optim.final_lr_fraction = 0, the rate decays to 0 on the last update
    (veRL's default min_lr_ratio is 0.0 as well).
  * weight decay 0, β1 = 0.9, β2 = 0.99, gradient clipping at global norm 1.0, no supervised
    warm-up (warmup.steps = 0), clip ε_low = ε_high = 0.2 (common.base_config).
  * prompt budget data.max_prompt_len = 1024 tokens: prompts are DAPO-Math-17K problems under
    Qwen2.5-Math's chat template (data.template = "qwen_boxed"); their lengths were not measured
    here (the data set is not on this machine). veRL's own DAPO recipe for Qwen2.5-Math-7B on
    DAPO-Math-17K (recipe/dapo/test_dapo_7b_math.sh) allows 2048. A longer prompt stops the run
    with a message naming data.max_prompt_len (jax_rlvr/data/batching.py); raise it then.
  * positions: 1024 + 4096 = 5120 exceeds the checkpoint's max_position_embeddings = 4096
    (RoPE θ = 10000). The policy computes RoPE at any position, so nothing stops, but positions
    past 4096 were not trained; veRL's DAPO recipe above raises max_position_embeddings to 32768
    for the same reason. The paper does not say how its runs handled it.
Precision: bfloat16 compute with float32 parameters and Adam moments. Storing the parameters in
bfloat16 would lose the updates: an AdamW step moves a weight by ~lr = 1e-6, far below the bfloat16
spacing of a typical weight (~1e-4 at 0.02). Rematerialised blocks (model.remat), attention in
blocks of 512 queries (model.attention = 'chunked') and logits projected 512 positions at a time
(model.logprob_chunk_size) keep activations small.
Evaluation: MATH500 with k = 8 samples per question every 50 steps (the paper's Avg@64 / Pass@64
on all benchmarks is a separate scripts/eval.py run with --config.eval.k=64).

Memory: whether the paper's batch fits a pod is decided by scripts/memory_plan.py; it was not
compiled at this size (at the `small` size a full-depth compile took 4-13 GB of host memory and up
to half an hour here). The README's tables measure the `small` rollout. rl.micro_batches = U
(MICRO_BATCHES) keeps each device's micro-batch small: the most rows per device (2 on v5p-64, 1 on
v4-64, 2 on h100x8) for which the `small` update's CPU-compiler plan, scaled by rows × (prompt +
response) tokens, stays under ~75% of HBM; on v4-64 even one row per device scales to ~97% (the
TPU compiler's plan of `small`, about half the CPU one, scales to ~51%). Gradient accumulation
leaves N and the update unchanged (rl.mini_batches > 1 would change N). The sampler generates all
4096 rows in one pass, and its KV cache alone is 4096 rows × 5120 positions × 28 layers × 2 × 4 kv
heads × 128 × 2 bytes ≈ 1120 GiB: ~35 GiB per chip on 32 chips, more than a v4 chip's 32 GiB, and
~140 GiB per GPU on h100x8; of the three targets only v5p-64 can hold it.

Status: not run here (no accelerators).
Time (an estimate, not measured): the update's arithmetic (forward, backward with remat and the
old log-prob pass over ~4096 × 4300 positions) is ~1.5e18 FLOPs, ~100 s per step at v5p-64's
peak, and each of the 4096 decode steps reads the KV cache (~1 minute at HBM bandwidth if each
reads all of it); expect several minutes per GRPO step, i.e. a few days for 400 steps on v5p-64.
`scripts/memory_plan.py --topology v5p-64` prints the roofline time of one GRPO iteration.
Expected result, per the paper: token entropy falling from ~0.37 to ~0.1 (GRPO 0.118, EMA-smoothed
final value) while in-domain Avg@64 rises from ~20 to ~44; at N = 4 GRPO ends at 0.0179.
"""

import ml_collections

from configs import common

# Devices as JAX counts them (chips), hosts (JAX processes) and HBM per device.
HARDWARE = {
  "v5p-64": dict(num_devices=32, num_processes=8, hbm_gib=95.0),
  "v4-64": dict(num_devices=32, num_processes=8, hbm_gib=32.0),
  "h100x8": dict(num_devices=8, num_processes=1, hbm_gib=80.0),
}
# (data, fsdp, tensor) per hardware: tensor parallelism over the 28 query / 4 kv heads, FSDP over
# the embedding dimension and the batch.
MESHES = {
  "v5p-64": (1, 8, 4),
  "v4-64": (1, 8, 4),
  "h100x8": (1, 2, 4),
}
# Micro-batches per gradient step (rl.micro_batches) at the paper's 4096 rows: 16, 8 and 4 rows
# per micro-batch, i.e. 2, 1 and 2 rows per device of the batch axes (see the docstring).
MICRO_BATCHES = {"v5p-64": 256, "v4-64": 512, "h100x8": 1024}
# The `small` rollout's (128 rows), chosen from the memory plan (README).
SMALL_MICRO_BATCHES = {"v5p-64": 4, "v4-64": 16, "h100x8": 32}
SMOKE_HARDWARE = dict(num_devices=1, num_processes=1, hbm_gib=0.0)
N_ENTROPY_CONTROL = 4  # N of the paper's §7 comparisons (argument n4)
VARIANTS = ("n4", "small")  # arguments after the hardware name (docstring)


def math_config(
  hardware: str,
  *,
  preset: str,
  checkpoint: str,
  meshes: dict,
  micro_batches: dict,
  small_micro_batches: dict,
  variants: dict,
) -> ml_collections.ConfigDict:
  """GRPO on DAPO-Math-17K for a Qwen2.5-Math preset on `hardware` (a key of HARDWARE), with the
  `variants` of the get_config argument ('n4', 'small') applied."""
  if hardware not in HARDWARE:
    raise ValueError(f"Unknown hardware {hardware!r}; choose one of {sorted(HARDWARE)} or smoke.")
  c = common.base_config()
  c.hardware = ml_collections.ConfigDict(dict(name=hardware, **HARDWARE[hardware]))
  c.num_steps = 400

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
  c.data.max_prompt_len = 1024  # the paper is silent: a choice (docstring)

  c.warmup.steps = 0
  # Appendix B: 256 prompts × 16 responses, temperature 1.0, top-p 1.0, at most 4096 new tokens.
  c.rollout.prompts_per_step = 256  # Q
  c.rollout.group_size = 16  # G
  c.rollout.max_new_tokens = 4096
  c.rollout.temperature = 1.0
  c.rollout.top_p = 1.0
  c.rl.mini_batches = 1  # N = 1: the GRPO row
  c.rl.epochs = 1
  # Gradient accumulation: each of the N gradient steps sums the gradients of this many
  # micro-batches, so fewer rows are in one backward pass (N and the update are unchanged).
  c.rl.micro_batches = micro_batches[hardware]
  c.rl.old_logp = "recompute"  # bf16 decode and training forward differ by more than rounding

  # Appendix B: AdamW with a cosine schedule, peak 1e-6 (the warm-up and the end: docstring).
  c.optim.learning_rate = 1e-6
  c.optim.schedule = "cosine"
  c.optim.final_lr_fraction = 0.0
  c.optim.warmup_steps = 10

  c.eval.every = 50
  c.eval.num_prompts = 500
  c.eval.k = 8
  c.eval.pass_ks = (1, 8)
  # 16 × k = 128 rows per eval batch; eval prompts are replicated on every device, so the batch
  # stays small.
  c.eval.batch_prompts = 16
  # Research metrics of text tasks: word-level diversity, no answer-token confidence
  # (\boxed{...} is not one token), no arithmetic out-of-domain prompts.
  c.eval.diversity_unit = "word"
  c.eval.answer_marker = ""
  c.eval.ood_num_prompts = 0
  c.checkpoint.every = 50
  c.mesh.shape = meshes[hardware]

  if "small" in variants:
    c.rollout.prompts_per_step = 16
    c.rollout.group_size = 8
    c.rollout.max_new_tokens = 3072
    c.rl.micro_batches = small_micro_batches[hardware]
  if "n4" in variants:
    c.rl.mini_batches = N_ENTROPY_CONTROL
    # The same rows per micro-batch as at N = 1 (at least one micro-batch per mini-batch).
    c.rl.micro_batches = max(c.rl.micro_batches // N_ENTROPY_CONTROL, 1)
  return c


def smoke_config() -> ml_collections.ConfigDict:
  """The full-scale code path (bfloat16 compute, float32 parameters, chunked log-probs, no
  warm-up, lr 1e-6 on a cosine schedule) on the tiny preset and the arithmetic task with the
  character tokenizer."""
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
  c.optim.schedule = "cosine"
  c.optim.warmup_steps = 1
  return c


def hardware_arg(args: dict) -> str:
  """The one hardware name in a parsed `get_config` arg (after the variants are taken out)."""
  if len(args) != 1:
    raise ValueError(
      f"Give one hardware name, one of {sorted(HARDWARE)}, optionally with the variants "
      f"{list(VARIANTS)} (e.g. ':v5p-64,n4'), or ':smoke'; got {sorted(args)}."
    )
  (hardware,) = args
  return hardware


def split_arg(arg) -> tuple[str, dict]:
  """'v5p-64,n4' -> ('v5p-64', {'n4': True}): the hardware name and the variants."""
  args = common.parse_arg(arg)
  variants = {name: args.pop(name) for name in VARIANTS if name in args}
  return hardware_arg(args), variants


def get_config(arg=None):
  if "smoke" in common.parse_arg(arg):
    return smoke_config()
  hardware, variants = split_arg(arg)
  return math_config(
    hardware,
    preset="qwen2.5-math-7b",
    checkpoint="checkpoints/Qwen2.5-Math-7B",
    meshes=MESHES,
    micro_batches=MICRO_BATCHES,
    small_micro_batches=SMALL_MICRO_BATCHES,
    variants=variants,
  )
