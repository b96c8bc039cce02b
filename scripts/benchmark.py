r"""Throughput benchmarks on random-weight policies; prints one JSON line per run.

  python scripts/benchmark.py sample --model tiny --batch 32 --new_tokens 64 [--prompt_len 16]

`sample`: new tokens per second of `jax_rlvr.sampling.generate` (prefill + KV-cache decode loop),
every row forced to exactly --new_tokens tokens (no EOS), compilation excluded.
"""

import json
import statistics
import time

import jax
import jax.numpy as jnp
from absl import app, flags
from flax import nnx

from jax_rlvr.models.config import get_preset
from jax_rlvr.models.policy import Policy, count_params
from jax_rlvr.sampling import SamplingConfig, generate

_MODEL = flags.DEFINE_string("model", "tiny", "Model preset (jax_rlvr.models.config.PRESETS).")
_BATCH = flags.DEFINE_integer("batch", 32, "Rows sampled in parallel.")
_NEW_TOKENS = flags.DEFINE_integer("new_tokens", 64, "Tokens generated per row.")
_PROMPT_LEN = flags.DEFINE_integer("prompt_len", 16, "Prompt length (all real tokens).")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs after compilation; the median counts.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the random weights, prompts and samples.")


def bench_sample() -> dict:
  cfg = get_preset(_MODEL.value)
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
    "model": _MODEL.value,
    "params": count_params(policy),
    "batch": batch,
    "new_tokens": _NEW_TOKENS.value,
    "prompt_len": prompt_len,
    "tokens_per_s": round(new_tokens / statistics.median(times), 1),
    "compile_s": round(compile_s, 2),
    "device": str(jax.devices()[0].device_kind),
  }


_BENCHMARKS = {"sample": bench_sample}


def main(argv):
  if len(argv) != 2 or argv[1] not in _BENCHMARKS:
    raise app.UsageError(f"Name one benchmark: {' | '.join(_BENCHMARKS)}.")
  print(json.dumps(_BENCHMARKS[argv[1]]()), flush=True)


if __name__ == "__main__":
  app.run(main)
