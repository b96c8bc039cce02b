r"""Throughput benchmarks; prints one JSON line per measurement.

  python scripts/benchmark.py sample --model tiny --batch 32 --new_tokens 64 [--prompt_len 16]
  python scripts/benchmark.py update --model tiny --batch 256 --new_tokens 40 \
    [--micro_batches 4] [--mini_batches 1] [--old_logp sampler|recompute] [--share_prompts]
  python scripts/benchmark.py compare [--model DIR | packaged:NAME | PRESET] [--batches 1,8,32,64] \
    [--new_tokens 64] [--train_rows 8 --train_len 128] [--repeats 3] [--table PATH]
  python scripts/benchmark.py rollout --config FILE[:arg] --requests R --slots S \
    --lengths lognormal:MEAN:SIGMA:CAP [--seed 0]

`sample`: new tokens per second of `jax_rlvr.rollout.static.generate` (prefill + KV-cache decode
loop), every row forced to exactly --new_tokens tokens (no EOS), compilation excluded
(`jax_rlvr.benchmarks.single_library.sample`).
`update`: seconds per call of the jitted, donated GRPO update (`rl_step.update_on_rollout`:
advantages, old log-probs unless taken from the sampler, N = --mini_batches gradient steps, each
accumulated over --micro_batches) on one sampled batch of --batch rows (groups of 8) with rewards
alternating 1, 0, the other settings from configs/common.py; compilation excluded
(`jax_rlvr.benchmarks.single_library.update`).
`compare`: jax_rlvr side by side with transformers / PyTorch on the same weights and inputs
(`jax_rlvr.benchmarks.side_by_side.compare`): the jax f32 matmul peak, sampling at each of
--batches, and on --train_rows x --train_len tokens the GRPO update (U = --micro_batches, default
1) and a plain fwd + bwd + AdamW step vs the PyTorch step; --model defaults to random
smollm2-135m-shape weights. --table writes the Markdown table (see docs/benchmarks.md).
`rollout`: the static and the continuous engine on the same R requests of --config's policy (R / G
prompts of data.max_prompt_len tokens, G = rollout.group_size), each stopped at a length drawn
from --lengths, EOS ignored (`jax_rlvr.benchmarks.rollout`): static in batches of S rows, the
continuous engine in S slots (the same KV memory). One JSON line per engine: engine, requests,
slots, real_tokens, decoded_slots, slot_utilization, kv_bytes, seconds, real_tokens_per_s,
tokens_sha256 (equal lines: equal tokens). One untimed run first compiles each engine's programs.
Every other measurement is the median of --repeats timed calls after one untimed call; a call during
which other processes used more than --threshold CPU cores is timed again (--max_retimes).
"""

import functools
import json
import os

from absl import app, flags

from jax_rlvr import config_files, config_validation
from jax_rlvr.benchmarks import markdown, side_by_side, single_library, timing
from jax_rlvr.benchmarks import rollout as rollout_benchmark

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
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the random weights and prompts.")
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
  "threshold", 0.2, "Others' CPU cores above which a timed region is re-timed."
)
_MAX_RETIMES = flags.DEFINE_integer("max_retimes", 3, "Re-timings per measurement.")
_PEERS = flags.DEFINE_bool("peers", True, "compare: include transformers / PyTorch.")
_TABLE = flags.DEFINE_string("table", None, "compare: write the Markdown table to this path.")
_CONFIG = flags.DEFINE_string("config", None, "rollout: a config file[:arg] (its policy).")
_REQUESTS = flags.DEFINE_integer("requests", 512, "rollout: requests (R = prompts × G).")
_SLOTS = flags.DEFINE_integer("slots", 32, "rollout: slots (S), and the static engine's batch.")
_LENGTHS = flags.DEFINE_string(
  "lengths", "lognormal:64:0.8:256", "rollout: forced lengths, lognormal:MEAN:SIGMA:CAP."
)


def _timer() -> timing.Timer:
  return functools.partial(
    timing.time_repeats,
    repeats=_REPEATS.value,
    threshold=_THRESHOLD.value,
    max_retimes=_MAX_RETIMES.value,
  )


def _rl_config(micro_batches: int):
  """configs/common.py's base with the update's flags (--micro_batches defaulting to the given)."""
  config = common.base_config()
  config.rl.micro_batches = micro_batches if _MICRO.value is None else _MICRO.value
  config.rl.mini_batches = _MINI.value
  config.rl.old_logp = _OLD_LOGP.value
  return config


def bench_sample() -> None:
  record = single_library.sample(
    _MODEL.value or "tiny",
    _BATCH.value,
    _PROMPT_LEN.value,
    _NEW_TOKENS.value,
    _timer(),
    seed=_SEED.value,
  )
  print(json.dumps(record), flush=True)


def bench_update() -> None:
  config = _rl_config(4)
  config.rollout.prompts_per_step = _BATCH.value // config.rollout.group_size
  config.rollout.max_new_tokens = _NEW_TOKENS.value
  config.rl.share_prompts = _SHARE.value
  config_validation.validate_config(config, num_devices=1)
  record = single_library.update(
    config, _MODEL.value or "tiny", _PROMPT_LEN.value, _timer(), seed=_SEED.value
  )
  print(json.dumps(record), flush=True)


def bench_compare() -> None:
  # One pass over all R rows by default: the same work per step as the PyTorch peer's.
  config = _rl_config(1)
  config.rollout.prompts_per_step, config.rollout.group_size = 1, _TRAIN_ROWS.value
  config.rollout.max_new_tokens = _TRAIN_LEN.value - _TRAIN_LEN.value // 2
  if _TRAIN_ROWS.value:  # the GRPO update's settings; 0 rows: sampling only
    config_validation.validate_config(config, num_devices=1)
  records = side_by_side.compare(
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
      f.write(markdown.markdown_table(records))


def bench_rollout() -> None:
  if not _CONFIG.value:
    raise app.UsageError("rollout needs --config FILE[:arg].")
  lengths = rollout_benchmark.Lengths.parse(_LENGTHS.value)
  config = config_files.get_config(_CONFIG.value)
  rollout_benchmark.run(
    config,
    requests=_REQUESTS.value,
    slots=_SLOTS.value,
    lengths=lengths,
    seed=_SEED.value,
    log=lambda record: print(json.dumps(record), flush=True),
  )


_BENCHMARKS = {
  "sample": bench_sample,
  "update": bench_update,
  "compare": bench_compare,
  "rollout": bench_rollout,
}


def main(argv):
  if len(argv) != 2 or argv[1] not in _BENCHMARKS:
    raise app.UsageError(f"Name one benchmark: {' | '.join(_BENCHMARKS)}.")
  _BENCHMARKS[argv[1]]()


if __name__ == "__main__":
  app.run(main)
