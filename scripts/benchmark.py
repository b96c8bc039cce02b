r"""Throughput benchmarks; prints one JSON line per measurement.

  python scripts/benchmark.py sample --model tiny --batch 32 --new_tokens 64 [--prompt_len 16]
  python scripts/benchmark.py update --model tiny --batch 256 --new_tokens 40 \
    [--micro_batches 4] [--mini_batches 1] [--old_logp sampler|recompute] [--share_prompts]
  python scripts/benchmark.py compare [--model DIR | packaged:NAME | PRESET] [--batches 1,8,32,64] \
    [--new_tokens 64] [--train_rows 8 --train_len 128] [--repeats 3] [--table PATH]

`sample`: new tokens per second of `jax_rlvr.sampling.generate` (prefill + KV-cache decode loop),
every row forced to exactly --new_tokens tokens (no EOS), compilation excluded.
`update`: seconds per call of the jitted GRPO update (`rl_step.update_on_rollout`: advantages, old
log-probs unless taken from the sampler, N = --mini_batches gradient steps, each accumulated over
--micro_batches) on one sampled batch of --batch rows (groups of 8) with random 0/1 rewards, the
other settings from configs/common.py; compilation excluded.
`compare`: jax_rlvr side by side with transformers / PyTorch on the same weights and inputs
(`jax_rlvr.benchmarks.compare`): the jax f32 matmul peak, sampling at each of --batches, and on
--train_rows x --train_len tokens the GRPO update (U = --micro_batches, default 1) and a plain
fwd + bwd + AdamW step vs the PyTorch step; --model defaults to random smollm2-135m-shape weights.
--table writes the Markdown table (see docs/benchmarks.md).
"""

import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
from absl import app, flags
from flax import nnx

from jax_rlvr import benchmarks, config_files, config_validation, rl_step, train_state
from jax_rlvr.models.config import get_preset
from jax_rlvr.models.policy import Policy, count_params
from jax_rlvr.rl import controllers as controllers_lib
from jax_rlvr.sampling import SamplingConfig, generate

# rl.* and optim.* of the update: configs/common.py's base, read by path.
common = config_files.load_module(
  os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "common.py")
)

_MODEL = flags.DEFINE_string(
  "model",
  None,
  "Model preset (jax_rlvr.models.config.PRESETS; default tiny, for compare smollm2-135m-shape); "
  "compare also takes an HF checkpoint directory or packaged:NAME.",
)
_BATCH = flags.DEFINE_integer("batch", 32, "Rows sampled in parallel.")
_NEW_TOKENS = flags.DEFINE_integer("new_tokens", 64, "Tokens generated per row.")
_PROMPT_LEN = flags.DEFINE_integer("prompt_len", 16, "Prompt length (all real tokens).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs after compilation; the median counts.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the random weights, prompts and samples.")
_MICRO = flags.DEFINE_integer(
  "micro_batches", None, "update / compare: rl.micro_batches (U); default 4 / 1."
)
_MINI = flags.DEFINE_integer(
  "mini_batches", 1, "update / compare: rl.mini_batches (N with one epoch)."
)
_OLD_LOGP = flags.DEFINE_enum(
  "old_logp", "sampler", ["sampler", "recompute"], "update / compare: rl.old_logp."
)
_SHARE = flags.DEFINE_bool(
  "share_prompts", False, "update: rl.share_prompts (each group's prompt computed once)."
)
_BATCHES = flags.DEFINE_list("batches", ["1", "8", "32", "64"], "compare: sampling batch sizes.")
_TRAIN_ROWS = flags.DEFINE_integer(
  "train_rows", 8, "compare: rows of the training steps (R); 0 skips them."
)
_TRAIN_LEN = flags.DEFINE_integer("train_len", 128, "compare: tokens per training row (L).")
_MATMUL_SIZE = flags.DEFINE_integer("matmul_size", 1024, "compare: n of the n^3 matmul peak.")
_BANDWIDTH_MB = flags.DEFINE_integer(
  "bandwidth_mb", 512, "compare: MB read to measure memory bandwidth (sampling's roofline)."
)
_THRESHOLD = flags.DEFINE_float(
  "threshold", 0.2, "compare: others' CPU cores above which a timed region is re-timed."
)
_MAX_RETIMES = flags.DEFINE_integer("max_retimes", 3, "compare: re-timings per measurement.")
_PEERS = flags.DEFINE_bool("peers", True, "compare: include transformers / PyTorch.")
_TABLE = flags.DEFINE_string("table", None, "compare: write the Markdown table to this path.")


def bench_sample() -> dict:
  cfg = get_preset(_MODEL.value or "tiny")
  policy = Policy(cfg, rngs=nnx.Rngs(_SEED.value))
  graphdef, params = nnx.split(policy)
  batch, prompt_len = _BATCH.value, _PROMPT_LEN.value
  prompt_key, sample_key = jax.random.split(jax.random.key(_SEED.value))
  prompts = jax.random.randint(prompt_key, (batch, prompt_len), 0, cfg.vocab_size, jnp.int32)
  mask = jnp.ones_like(prompts)
  config = SamplingConfig(max_new_tokens=_NEW_TOKENS.value, eos_id=())

  start = time.perf_counter()
  compiled = generate.lower(graphdef, params, prompts, mask, sample_key, config).compile()
  compile_s = time.perf_counter() - start
  times = []
  for i in range(_REPEATS.value):
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(params, prompts, mask, jax.random.fold_in(sample_key, i)))
    times.append(time.perf_counter() - start)
  new_tokens = int(out.lengths_B.sum())
  return {
    "bench": "sample",
    "model": _MODEL.value or "tiny",
    "params": count_params(policy),
    "batch": batch,
    "new_tokens": _NEW_TOKENS.value,
    "prompt_len": prompt_len,
    "tokens_per_s": round(new_tokens / statistics.median(times), 1),
    "compile_s": round(compile_s, 2),
    "device": str(jax.devices()[0].device_kind),
  }


def bench_update() -> dict:
  config = common.base_config()
  config.rollout.prompts_per_step = _BATCH.value // config.rollout.group_size
  config.rollout.max_new_tokens = _NEW_TOKENS.value
  config.rl.micro_batches = 4 if _MICRO.value is None else _MICRO.value
  config.rl.mini_batches = _MINI.value
  config.rl.old_logp = _OLD_LOGP.value
  config.rl.share_prompts = _SHARE.value
  config_validation.validate_config(config, num_devices=1)
  hp = rl_step.RLHyperParams.from_config(config)
  cfg = get_preset(_MODEL.value or "tiny")
  policy = Policy(cfg, rngs=nnx.Rngs(_SEED.value))
  graphdef, params = nnx.split(policy)
  prompt_key, sample_key, reward_key = jax.random.split(jax.random.key(_SEED.value), 3)
  shape = (config.rollout.prompts_per_step, _PROMPT_LEN.value)
  prompts = jax.random.randint(prompt_key, shape, 0, cfg.vocab_size, jnp.int32)
  sampling_config = SamplingConfig(
    max_new_tokens=_NEW_TOKENS.value, num_samples=config.rollout.group_size, eos_id=()
  )
  rollout = generate(graphdef, params, prompts, jnp.ones_like(prompts), sample_key, sampling_config)
  rewards = jax.random.bernoulli(reward_key, 0.5, (_BATCH.value,)).astype(jnp.float32)
  optimizer = train_state.make_optimizer(1e-3, 1, config.optim)
  update = rl_step.jit_update(graphdef, optimizer, hp)
  controllers = controllers_lib.init_controllers(hp)
  args = (params, optimizer.init(params), controllers, None, rollout, rewards, jax.random.key(1))
  start = time.perf_counter()
  update = update.lower(*args).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(update(*args))
  times = []
  for _ in range(_REPEATS.value):
    start = time.perf_counter()
    jax.block_until_ready(update(*args))
    times.append(time.perf_counter() - start)
  return {
    "bench": "update",
    "model": _MODEL.value or "tiny",
    "params": count_params(policy),
    "batch": _BATCH.value,
    "tokens": _PROMPT_LEN.value + _NEW_TOKENS.value,
    "mini_batches": _MINI.value,
    "micro_batches": _MICRO.value,
    "old_logp": _OLD_LOGP.value,
    "share_prompts": _SHARE.value,
    "seconds": round(statistics.median(times), 4),
    "compile_s": round(compile_s, 2),
    "device": str(jax.devices()[0].device_kind),
  }


def bench_compare() -> None:
  config = common.base_config()
  config.rollout.prompts_per_step, config.rollout.group_size = 1, _TRAIN_ROWS.value
  config.rollout.max_new_tokens = _TRAIN_LEN.value - _TRAIN_LEN.value // 2
  # One pass over all R rows by default: the same work per step as the PyTorch peer's.
  config.rl.micro_batches = 1 if _MICRO.value is None else _MICRO.value
  config.rl.mini_batches = _MINI.value
  config.rl.old_logp = _OLD_LOGP.value
  if _TRAIN_ROWS.value:  # the GRPO update's settings; 0 rows: sampling only
    config_validation.validate_config(config, num_devices=1)
  records = benchmarks.compare(
    config,
    model=_MODEL.value or "smollm2-135m-shape",
    batches=[int(b) for b in _BATCHES.value],
    new_tokens=_NEW_TOKENS.value,
    prompt_len=_PROMPT_LEN.value,
    train_rows=_TRAIN_ROWS.value,
    train_len=_TRAIN_LEN.value,
    repeats=_REPEATS.value,
    matmul_size=_MATMUL_SIZE.value,
    bandwidth_mb=_BANDWIDTH_MB.value,
    threshold=_THRESHOLD.value,
    max_retimes=_MAX_RETIMES.value,
    seed=_SEED.value,
    peers=_PEERS.value,
    emit=lambda record: print(json.dumps(record), flush=True),
  )
  if _TABLE.value:
    with open(_TABLE.value, "w") as f:
      f.write(benchmarks.markdown_table(records))


_BENCHMARKS = {"sample": bench_sample, "update": bench_update}


def main(argv):
  if len(argv) == 2 and argv[1] == "compare":
    bench_compare()
  elif len(argv) == 2 and argv[1] in _BENCHMARKS:
    print(json.dumps(_BENCHMARKS[argv[1]]()), flush=True)
  else:
    raise app.UsageError(f"Name one benchmark: {' | '.join([*_BENCHMARKS, 'compare'])}.")


if __name__ == "__main__":
  app.run(main)
