"""What both rollout engines share: sampling settings, the weights' decode layout, the per-token
draw and the output rows.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G samples per prompt (num_samples),
B = Q·G rows, P prompt tokens, Y response tokens (max_new_tokens), V, C candidate tokens after
top-k / top-p.

Both engines decode with `decode_params`: the weights resharded once per rollout (not split over
fsdp), so no weight is gathered at every decode step.

Conventions (both engines, jax_rlvr/rollout/static.py and continuous.py):
  * Output row r = q·G + g is sample g of prompt q (prompt-major, contiguous groups for GRPO); it
    is request r, and its randomness is its own: column t is drawn with
    `fold_in(request_keys(key, r), t)`, so a row's tokens do not depend on which other rows are
    decoded beside it, in what order, or in which slot.
  * A row stops at its first EOS: the EOS itself is part of the response (mask 1), later tokens are
    `pad_id` with mask 0.
  * The sampling distribution is temperature -> top-k -> top-p: top-p acts on the renormalised
    top-k distribution, and keeps the smallest prefix of the sorted tokens whose mass is >= top_p
    (always at least the most likely token).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx, struct

from jax_rlvr import sharding
from jax_rlvr.models import scoring


@dataclasses.dataclass(frozen=True, kw_only=True)
class SamplingConfig:
  """Static sampling settings (hashable: a static argument of the jitted `generate`).

  Attributes:
    max_new_tokens: Y, the most tokens generated per row.
    temperature: divides the logits before truncation; ignored when `greedy`.
    top_p: nucleus mass in (0, 1]; 1 keeps everything.
    top_k: keep the k most likely tokens; 0 keeps everything.
    greedy: take the argmax (the sampled distribution is then a point mass: sample_logp = 0).
    num_samples: G, samples per prompt.
    eos_id: one id or a tuple of ids that end a row; `()` never stops early.
    pad_id: written after EOS and in rows' unused columns.
  """

  max_new_tokens: int
  temperature: float = 1.0
  top_p: float = 1.0
  top_k: int = 0
  greedy: bool = False
  num_samples: int = 1
  eos_id: int | tuple[int, ...]
  pad_id: int = 0

  def __post_init__(self):
    if not isinstance(self.eos_id, int):
      object.__setattr__(self, "eos_id", tuple(int(i) for i in self.eos_id))
    if self.max_new_tokens < 1:
      raise ValueError(f"max_new_tokens={self.max_new_tokens} must be >= 1.")
    if not self.greedy and not self.temperature > 0:
      raise ValueError(f"temperature={self.temperature} must be > 0 (or set greedy=True).")
    if not 0 < self.top_p <= 1:
      raise ValueError(f"top_p={self.top_p} must be in (0, 1].")
    if self.top_k < 0:
      raise ValueError(f"top_k={self.top_k} must be >= 0 (0 turns it off).")
    if self.num_samples < 1:
      raise ValueError(f"num_samples={self.num_samples} must be >= 1.")

  @property
  def eos_ids(self) -> tuple[int, ...]:
    return (self.eos_id,) if isinstance(self.eos_id, int) else self.eos_id


@struct.dataclass
class SampleOutput:
  """Generated rows; B = prompts * num_samples. Log-probs and entropies are float32, 0 where masked.

  prompt_tokens_BP, prompt_mask_BP: the prompts (int32), repeated per sample.
  response_tokens_BY: int32, `pad_id` after EOS. response_mask_BY: int32, 1 up to and including EOS.
  sample_logp_BY: log-prob of the token under the distribution it was drawn from (after
    temperature, top-k and top-p; 0 for greedy).
  policy_logp_BY: log-prob under the plain policy (temperature 1, no truncation).
  entropy_BY: entropy of the plain policy's full next-token distribution.
  sample_entropy_BY: entropy of the distribution sampled from (after temperature, top-k and
    top-p; the same values as entropy_BY when none applies; 0 for greedy).
  lengths_B: int32 response lengths. finished_B: bool, the row produced an EOS.
  num_steps: int32 scalar, positions sampled (1 from the prefill + decode steps); < Y when every
    row stopped early.
  """

  prompt_tokens_BP: jax.Array
  prompt_mask_BP: jax.Array
  response_tokens_BY: jax.Array
  response_mask_BY: jax.Array
  sample_logp_BY: jax.Array
  policy_logp_BY: jax.Array
  entropy_BY: jax.Array
  sample_entropy_BY: jax.Array
  lengths_B: jax.Array
  finished_B: jax.Array
  num_steps: jax.Array


def decode_params(graphdef: nnx.GraphDef, params: nnx.State, layout: str = "tensor") -> nnx.State:
  """The policy's parameters as both engines decode with them (rollout.decode_layout).

  "tensor": when a mesh whose fsdp axis splits the weights is in context, a copy in the compute
  dtype (model.dtype, what every matmul casts its weights to anyway, so the values are the
  same) laid out by `sharding.decode_shardings`: gathered over fsdp once here, so the decode
  loop gathers none. Without a mesh, or with fsdp = 1 (nothing to gather), `params` unchanged.
  "training": `params` unchanged (the decode loop gathers every weight over fsdp at every step).
  Inside jit (the static engine) or outside (the continuous engine: one program per rollout).
  """
  if layout not in sharding.DECODE_LAYOUTS:
    raise ValueError(f"rollout.decode_layout={layout!r}: choose one of {sharding.DECODE_LAYOUTS}.")
  mesh = jax.sharding.get_abstract_mesh()
  if layout == "training" or mesh.empty or mesh.shape.get("fsdp", 1) == 1:
    return params
  return _in_decode_layout(params, dtype=nnx.merge(graphdef, params).cfg.jnp_dtype)


@functools.partial(jax.jit, static_argnames="dtype")
def _in_decode_layout(params, dtype):
  params = jax.tree.map(lambda x: x.astype(dtype), params)
  shardings = sharding.decode_shardings(params, jax.sharding.get_abstract_mesh())
  return jax.lax.with_sharding_constraint(params, shardings)


def sampling_logits(logits_BV: jax.Array, config: SamplingConfig):
  """The distribution sampled from, as logits over candidates: returns (logits_BC, ids_BC).

  Excluded candidates have logit -inf. `ids_BC` maps candidates to vocabulary ids; it is None when
  nothing is truncated (C = V, candidates in vocabulary order). Not used for greedy decoding.
  """
  scaled_BV = logits_BV.astype(jnp.float32) / config.temperature
  V = scaled_BV.shape[-1]
  k = config.top_k if 0 < config.top_k < V else 0
  if k == 0 and config.top_p < 1:
    k = V  # top-p needs the whole vocabulary sorted
  if k == 0:
    return scaled_BV, None
  logits_BC, ids_BC = jax.lax.top_k(scaled_BV, k)
  if config.top_p < 1:
    probs_BC = jax.nn.softmax(logits_BC, axis=-1)
    mass_before_BC = jnp.cumsum(probs_BC, axis=-1) - probs_BC
    logits_BC = jnp.where(mass_before_BC < config.top_p, logits_BC, -jnp.inf)
  return logits_BC, ids_BC


_DRAW_BLOCK = 256  # candidates per block of the two-level draw: about sqrt(V) for V ~ 50k


def draw_categorical(key, logp_BC: jax.Array) -> jax.Array:
  """One draw per row from exp(logp_BC) (normalised log-probs, -inf excluded); returns int32 [B].

  Inverse CDF in two levels, each with its own uniform: a block of _DRAW_BLOCK candidates by its
  mass, then a candidate within the block by its share of it. Exact in distribution up to each
  level's f32 resolution. Why not `jax.random.categorical`: its Gumbel-max draws B·C random
  numbers and takes two logs of each (71 of the 400 ms of a batch-64 SmolLM2 decode step on the
  2-core CPU, docs/benchmarks.md); this draws 2·B and takes one exp per candidate. Two levels, not
  one cumsum over all C, so neither the cumsum's rounding nor one uniform's 2^-24 resolution is
  spread over 49k candidates.
  """
  rows, size = logp_BC.shape
  block = min(_DRAW_BLOCK, size)
  blocks = -(-size // block)
  blocked = jnp.pad(jnp.exp(logp_BC), ((0, 0), (0, blocks * block - size)))
  blocked = blocked.reshape(rows, blocks, block)  # [B, blocks, block]
  block_key, within_key = jax.random.split(key)
  block_B = _inverse_cdf(blocked.sum(axis=-1), jax.random.uniform(block_key, (rows,)))
  in_block = jnp.take_along_axis(blocked, block_B[:, None, None], axis=1)[:, 0]
  return block_B * block + _inverse_cdf(in_block, jax.random.uniform(within_key, (rows,)))


def _inverse_cdf(weights, u_B):  # weights: [B, n]
  """The index k with cdf[k-1] <= u·total < cdf[k] per row (weights >= 0, some > 0; u in [0, 1)).

  The chosen k always has weight > 0: cdf rises at k. The threshold is kept below the total (exact
  f32 rounding already does so for u < 1; the bound guards reassociated arithmetic), so trailing
  zero weights are never chosen.
  """
  cdf = jnp.cumsum(weights, axis=-1)
  total_B = cdf[:, -1]
  threshold_B = jnp.minimum(u_B * total_B, jnp.nextafter(total_B, 0.0))
  return jnp.sum(cdf <= threshold_B[:, None], axis=-1, dtype=jnp.int32)


def _take(x_BV, ids_B):
  return jnp.take_along_axis(x_BV, ids_B[:, None], axis=-1)[:, 0]


def request_keys(key, rows_B):
  """The PRNG key of each request (output row) `rows_B` under the rollout's `key`: [B] keys."""
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, rows_B)


def column_keys(keys_B, columns_B):
  """Each request's key for drawing its response column `columns_B` (int [B])."""
  return jax.vmap(jax.random.fold_in)(keys_B, columns_B)


def choose_tokens(logits_BV, keys_B, config: SamplingConfig):
  """One position of each row, row b drawn with its own `keys_B[b]`: returns (tokens_B,
  sample_logp_B, policy_logp_B, entropy_B, sample_entropy_B)."""
  logits_BV = logits_BV.astype(jnp.float32)
  logp_BV = jax.nn.log_softmax(logits_BV, axis=-1)
  entropy_B = scoring.entropy_from_logp(logp_BV)
  if config.greedy:
    tokens_B = jnp.argmax(logits_BV, axis=-1).astype(jnp.int32)
    sample_logp_B = jnp.zeros(tokens_B.shape, jnp.float32)
    sample_entropy_B = jnp.zeros(tokens_B.shape, jnp.float32)
  else:
    cand_logits_BC, ids_BC = sampling_logits(logits_BV, config)
    if ids_BC is None and config.temperature == 1.0:
      # The plain policy: no second pass over the vocabulary.
      cand_logp_BC, sample_entropy_B = logp_BV, entropy_B
    else:
      cand_logp_BC = jax.nn.log_softmax(cand_logits_BC, axis=-1)
      sample_entropy_B = scoring.entropy_from_logp(cand_logp_BC)
    choice_B = jax.vmap(lambda k, lp_C: draw_categorical(k, lp_C[None])[0])(keys_B, cand_logp_BC)
    sample_logp_B = _take(cand_logp_BC, choice_B)
    tokens_B = choice_B if ids_BC is None else _take(ids_BC, choice_B)
    tokens_B = tokens_B.astype(jnp.int32)
  return tokens_B, sample_logp_B, _take(logp_BV, tokens_B), entropy_B, sample_entropy_B


def is_eos(tokens_B, config: SamplingConfig):
  """bool [B]: the token ends its row."""
  out_B = jnp.zeros(tokens_B.shape, bool)
  for eos in config.eos_ids:
    out_B |= tokens_B == eos
  return out_B


def trim_padding(out: SampleOutput, bucket: int) -> SampleOutput:
  """`out` without the padding columns no row uses, for an update that computes over fewer tokens.

  Prompts are left-padded to P and responses right-padded to Y; this keeps the last
  p' = ceil(p / bucket) * bucket prompt columns and the first y' response columns alike (capped at
  P and Y), where p and y are the longest real prompt and response of the whole (global) batch.
  Dropped columns are masked in every row, so the update changes only by float rounding; rounding
  up to a multiple of `bucket` keeps the number of distinct shapes, hence compilations, small.
  """
  P, Y = out.prompt_tokens_BP.shape[1], out.response_tokens_BY.shape[1]
  # Maxima over the global batch: every process computes the same shapes.
  p = int(jnp.max(jnp.sum(out.prompt_mask_BP.astype(jnp.int32), axis=1)))
  y = int(jnp.max(out.lengths_B))

  def rounded(length, cap):
    return min(cap, max(bucket, -(-length // bucket) * bucket))

  P_new, Y_new = rounded(p, P), rounded(y, Y)
  if (P_new, Y_new) == (P, Y):
    return out
  fields = {
    "prompt_tokens_BP": out.prompt_tokens_BP[:, P - P_new :],
    "prompt_mask_BP": out.prompt_mask_BP[:, P - P_new :],
  }
  for field in dataclasses.fields(out):
    if field.name.endswith("_BY"):  # every per-response-token array
      fields[field.name] = getattr(out, field.name)[:, :Y_new]
  return out.replace(**fields)
