"""The static engine: one jitted prefill over the prompts, then a KV-cache decode loop over all
rows.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G samples per prompt (num_samples),
B = Q·G rows, P prompt tokens, Y response tokens (max_new_tokens), S KV-cache slots, D, V.

Every row gets a cache of P + Y - 1 slots up front and the loop runs until every row has stopped
or Y tokens are drawn, finished rows computing on: simple, one program, the default for small
batches. Prompts are left-padded (`prompt_mask` 0 on the left), so every row writes the same
cache slot at every step; the prompts are prefilled once and the cache repeated G times. The
continuous engine (continuous.py) gives the same rows for the same requests.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx, struct

from jax_rlvr.models.policy import KVCache, Policy, positions_from_mask
from jax_rlvr.rollout.sampling import (
  SampleOutput,
  SamplingConfig,
  choose_tokens,
  column_keys,
  decode_params,
  is_eos,
  request_keys,
)


@struct.dataclass
class _LoopState:
  step: jax.Array  # next column to fill
  cache: KVCache
  logits_BV: jax.Array  # next-token logits for column `step`
  done_B: jax.Array
  tokens_BY: jax.Array
  mask_BY: jax.Array
  sample_logp_BY: jax.Array
  policy_logp_BY: jax.Array
  entropy_BY: jax.Array
  sample_entropy_BY: jax.Array


def _fill_column(state: _LoopState, keys_B, stop_B, config: SamplingConfig) -> _LoopState:
  """Samples column `state.step` from `state.logits_BV`; rows already done (EOS drawn, or
  `stop_B` tokens) get pad / zeros."""
  columns_B = jnp.full(keys_B.shape, state.step, jnp.int32)
  tokens_B, sample_logp_B, policy_logp_B, entropy_B, sample_entropy_B = choose_tokens(
    state.logits_BV, column_keys(keys_B, columns_B), config
  )
  live_B = ~state.done_B & (state.step < stop_B)
  tokens_B = jnp.where(live_B, tokens_B, config.pad_id)

  def put(buf_BY, col_B):
    col_B = jnp.where(live_B, col_B, jnp.zeros_like(col_B))
    return jax.lax.dynamic_update_slice_in_dim(buf_BY, col_B[:, None], state.step, axis=1)

  return state.replace(
    done_B=state.done_B | (live_B & is_eos(tokens_B, config)),
    tokens_BY=jax.lax.dynamic_update_slice_in_dim(
      state.tokens_BY, tokens_B[:, None], state.step, axis=1
    ),
    mask_BY=put(state.mask_BY, live_B.astype(jnp.int32)),
    sample_logp_BY=put(state.sample_logp_BY, sample_logp_B),
    policy_logp_BY=put(state.policy_logp_BY, policy_logp_B),
    entropy_BY=put(state.entropy_BY, entropy_B),
    sample_entropy_BY=put(state.sample_entropy_BY, sample_entropy_B),
  )


@functools.partial(jax.jit, static_argnames=("graphdef", "config", "decode_layout"))
def generate(
  graphdef: nnx.GraphDef,
  params: nnx.State,
  prompt_tokens_QP: jax.Array,
  prompt_mask_QP: jax.Array,
  key: jax.Array,
  config: SamplingConfig,
  stop_lengths_B: jax.Array | None = None,
  first_request=0,
  *,
  decode_layout: str = "tensor",
) -> SampleOutput:
  """Samples `config.num_samples` responses per prompt.

  Args:
    graphdef, params: `graphdef, params = nnx.split(policy)` (the policy's whole state, which is
      its parameters). `nnx.split(policy, nnx.Param, ...)[:2]` gives the same pair.
    prompt_tokens_QP: int, Q prompts, left-padded to length P.
    prompt_mask_QP: 1 for real prompt tokens, 0 for the left padding.
    key: PRNG key; row r draws with `request_keys(key, r)` (sampling.py).
    config: static `SamplingConfig`.
    stop_lengths_B: optional int [B]: row b stops after that many tokens even without EOS
      (benchmarks force a length distribution with it); None: Y.
    first_request: the number of row 0 (a batch that is part of a larger rollout): row b draws
      as request first_request + b.
    decode_layout: rollout.decode_layout, the weights' layout in the prefill and the decode loop
      (sampling.decode_params): "tensor" reshards them here, once, so the loop gathers none.

  Returns:
    `SampleOutput` with B = Q * num_samples rows, prompt-major.
  """
  policy: Policy = nnx.merge(graphdef, decode_params(graphdef, params, decode_layout))
  G, Y = config.num_samples, config.max_new_tokens
  Q, P = prompt_tokens_QP.shape
  B = Q * G
  prompt_tokens_QP = prompt_tokens_QP.astype(jnp.int32)
  prompt_mask_QP = prompt_mask_QP.astype(jnp.int32)
  keys_B = request_keys(key, first_request + jnp.arange(B, dtype=jnp.int32))
  stop_B = jnp.full((B,), Y, jnp.int32) if stop_lengths_B is None else stop_lengths_B

  # The last sampled token is never fed back, so P + Y - 1 slots suffice.
  cache = KVCache.init(policy.cfg, Q, P + Y - 1)
  h_QPD, cache = policy.decode_hidden(
    prompt_tokens_QP, positions_from_mask(prompt_mask_QP), prompt_mask_QP, cache
  )
  logits_QV = policy.logits(h_QPD[:, -1:])[:, 0]
  prompt_tokens_BP = jnp.repeat(prompt_tokens_QP, G, axis=0)
  prompt_mask_BP = jnp.repeat(prompt_mask_QP, G, axis=0)
  prompt_len_B = jnp.sum(prompt_mask_BP, axis=-1)

  zeros_BY = jnp.zeros((B, Y), jnp.float32)
  state = _LoopState(
    step=jnp.zeros((), jnp.int32),
    cache=cache.repeat(G),
    logits_BV=jnp.repeat(logits_QV, G, axis=0),
    done_B=jnp.zeros((B,), bool),
    tokens_BY=jnp.full((B, Y), config.pad_id, jnp.int32),
    mask_BY=jnp.zeros((B, Y), jnp.int32),
    sample_logp_BY=zeros_BY,
    policy_logp_BY=zeros_BY,
    entropy_BY=zeros_BY,
    sample_entropy_BY=zeros_BY,
  )
  state = _fill_column(state, keys_B, stop_B, config)
  state = state.replace(step=state.step + 1)

  def cond(state: _LoopState):
    return (state.step < Y) & jnp.any(~state.done_B & (state.step < stop_B))

  def body(state: _LoopState):
    prev_B1 = jax.lax.dynamic_slice_in_dim(state.tokens_BY, state.step - 1, 1, axis=1)
    positions_B1 = (prompt_len_B + state.step - 1)[:, None]
    h_B1D, cache = policy.decode_hidden(prev_B1, positions_B1, jnp.ones_like(prev_B1), state.cache)
    state = state.replace(cache=cache, logits_BV=policy.logits(h_B1D)[:, 0])
    state = _fill_column(state, keys_B, stop_B, config)
    return state.replace(step=state.step + 1)

  state = jax.lax.while_loop(cond, body, state)
  return SampleOutput(
    prompt_tokens_BP=prompt_tokens_BP,
    prompt_mask_BP=prompt_mask_BP,
    response_tokens_BY=state.tokens_BY,
    response_mask_BY=state.mask_BY,
    sample_logp_BY=state.sample_logp_BY,
    policy_logp_BY=state.policy_logp_BY,
    entropy_BY=state.entropy_BY,
    sample_entropy_BY=state.sample_entropy_BY,
    lengths_B=jnp.sum(state.mask_BY, axis=-1),
    finished_B=state.done_B,
    num_steps=state.step,
  )


def sample(
  policy: Policy,
  prompt_tokens_QP: jax.Array,
  prompt_mask_QP: jax.Array,
  key: jax.Array,
  config: SamplingConfig,
) -> SampleOutput:
  """`generate` on an NNX policy (splits it; see `generate` for the arguments)."""
  graphdef, params = nnx.split(policy)
  return generate(graphdef, params, prompt_tokens_QP, prompt_mask_QP, key, config)
