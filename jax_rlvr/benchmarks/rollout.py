"""Both rollout engines on the same requests with a forced length distribution:
`scripts/benchmark.py rollout`.

R requests (R / G prompts of the config's policy, G = rollout.group_size samples each) whose
lengths are drawn from a distribution and forced (each request stops at its drawn length, EOS
ignored). The static engine decodes them in batches of S rows, the continuous one in S slots
over a page pool of the same bytes (S·(P + Y - 1) tokens): the same KV memory. Each engine is run
once untimed with every request stopped at two tokens (compiling the same programs), then timed.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G samples per prompt, B = Q·G requests,
P prompt tokens, Y response tokens.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

import jax
import numpy as np
from flax import nnx

from jax_rlvr import components
from jax_rlvr.rollout import engines
from jax_rlvr.rollout.continuous import ContinuousEngine
from jax_rlvr.rollout.sampling import SamplingConfig


@dataclasses.dataclass(frozen=True)
class Lengths:
  """lognormal:MEAN:SIGMA:CAP: round-up log-normal lengths of mean MEAN and log-std SIGMA, capped
  at CAP (also the rollout's Y)."""

  mean: float
  sigma: float
  cap: int

  @classmethod
  def parse(cls, text: str) -> Lengths:
    kind, *values = text.split(":")
    if kind != "lognormal" or len(values) != 3:
      raise ValueError(f"--lengths {text!r}: use lognormal:MEAN:SIGMA:CAP.")
    mean, sigma, cap = float(values[0]), float(values[1]), int(values[2])
    if not (mean >= 1 and sigma >= 0 and cap >= 1):
      raise ValueError(f"--lengths {text!r}: MEAN >= 1, SIGMA >= 0 and CAP >= 1.")
    return cls(mean, sigma, cap)

  def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
    mu = np.log(self.mean) - self.sigma**2 / 2  # E[exp(N(mu, σ²))] = MEAN
    return np.clip(np.ceil(rng.lognormal(mu, self.sigma, n)), 1, self.cap).astype(np.int32)


def tokens_sha256(tokens_BY: np.ndarray, lengths_B: np.ndarray) -> str:
  """A hash of the response tokens in request order (each row up to its length)."""
  digest = hashlib.sha256()
  for row, n in zip(tokens_BY, lengths_B, strict=True):
    digest.update(np.asarray(row[:n], np.int32).tobytes() + b"|")
  return digest.hexdigest()


def _prompts(Q: int, P: int, vocab: int, rng) -> tuple[np.ndarray, np.ndarray]:
  """Q random prompts of P // 2 .. P real tokens, left-padded to P."""
  lengths = rng.integers(max(1, P // 2), P + 1, Q)
  mask = (np.arange(P)[None] >= P - lengths[:, None]).astype(np.int32)
  return np.where(mask, rng.integers(1, vocab, (Q, P)), 0).astype(np.int32), mask


def _static_in_batches(graphdef, params, tokens_QP, mask_QP, key, config, stop_B, rows, stats):
  """The static engine on consecutive batches of `rows` requests (rows / G prompts each), each
  request numbered as in the whole rollout, so its tokens are the whole rollout's."""
  G = config.num_samples
  per = rows // G
  engine, parts = engines.StaticEngine(), []
  for start in range(0, tokens_QP.shape[0], per):
    part = {}
    out = engine.generate(
      graphdef,
      params,
      tokens_QP[start : start + per],
      mask_QP[start : start + per],
      key,
      config,
      stop_lengths_B=stop_B[start * G : (start + per) * G],
      first_request=start * G,
      stats=part,
    )
    parts.append(jax.device_get(out))
    for name in ("decode_steps", "decoded_slots", "real_tokens"):
      stats[name] = stats.get(name, 0) + part[name]
    stats["kv_bytes"] = part["kv_bytes"]  # one batch's cache at a time
  return np.concatenate([p.response_tokens_BY for p in parts]), np.concatenate(
    [p.lengths_B for p in parts]
  )


def run(config, *, requests: int, slots: int, lengths: Lengths, seed: int = 0, log=print):
  """One record per engine (static, continuous) as a dict: engine, requests, slots,
  real_tokens, decoded_slots, slot_utilization (real ÷ decoded), kv_bytes (allocated), seconds,
  real_tokens_per_s, tokens_sha256, and the continuous engine's prefills and preemptions."""
  G = config.rollout.group_size
  if requests % G or slots % G:
    raise ValueError(f"--requests {requests} and --slots {slots} must be multiples of G = {G}.")
  if (requests // G) % (slots // G):
    raise ValueError(f"--requests {requests} must be a multiple of --slots {slots}.")
  tokenizer = components.build_tokenizer(config)
  graphdef, params = nnx.split(components.build_policy(config, tokenizer))
  rng = np.random.default_rng(seed)
  Q, P = requests // G, config.data.max_prompt_len
  tokens_QP, mask_QP = _prompts(Q, P, nnx.merge(graphdef, params).cfg.vocab_size, rng)
  stop_B = lengths.draw(requests, rng)
  sampling_config = SamplingConfig(
    max_new_tokens=lengths.cap,
    eos_id=(),
    pad_id=tokenizer.pad_id,
    num_samples=G,
    temperature=config.rollout.temperature,
  )
  key = jax.random.key(seed)
  Z = config.rollout.page_size
  same_memory = slots * (P + lengths.cap - 1) // Z  # the static batch's cache, in pages
  continuous = ContinuousEngine(slots=slots, page_size=Z, num_pages=same_memory)

  def static_run(stop, stats):
    return _static_in_batches(
      graphdef, params, tokens_QP, mask_QP, key, sampling_config, stop, slots, stats
    )

  def continuous_run(stop, stats):
    out = continuous.generate(
      graphdef, params, tokens_QP, mask_QP, key, sampling_config, stop_lengths_B=stop, stats=stats
    )
    out = jax.device_get(out)
    return out.response_tokens_BY, out.lengths_B

  records = []
  for name, fn in (("static", static_run), ("continuous", continuous_run)):
    fn(np.minimum(stop_B, 2), {})  # compiles every program the timed run calls
    stats = {}
    t0 = time.perf_counter()
    tokens_BY, lengths_B = fn(stop_B, stats)
    seconds = time.perf_counter() - t0
    assert (lengths_B == stop_B).all(), "a request did not stop at its drawn length"
    record = dict(
      engine=name,
      requests=requests,
      slots=slots,
      real_tokens=int(stats["real_tokens"]),
      decoded_slots=int(stats["decoded_slots"]),
      slot_utilization=stats["real_tokens"] / stats["decoded_slots"],
      kv_bytes=int(stats["kv_bytes"]),
      seconds=seconds,
      real_tokens_per_s=stats["real_tokens"] / seconds,
      tokens_sha256=tokens_sha256(tokens_BY, lengths_B),
      **{k: stats[k] for k in ("prefills", "preemptions") if k in stats},
    )
    log(record)
    records.append(record)
  return records
