"""Per-token log-probs and entropies of responses under a policy, from one full forward pass.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G samples per prompt, B = Q·G rows,
P prompt tokens, Y response tokens, T = P + Y input tokens, D, V, C chunk length,
J number of chunks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jax_rlvr.models.policy import KVCache, Policy, positions_from_mask


def entropy_from_logp(logp_BYV: jax.Array) -> jax.Array:
  """Token entropy H = -Σ_v π(v) log π(v) from normalised log-probs [..., V] -> [...], float32.

  The package's one entropy formula (the sampler, scoring, evaluation and the entropy bonus use
  it). 0·log 0 = 0, written so that neither the value nor the gradient of a -inf log-prob (a
  token excluded by top-k / top-p, a masked vocabulary entry) is NaN.
  """
  logp_BYV = jnp.asarray(logp_BYV, jnp.float32)
  p_BYV = jnp.exp(logp_BYV)
  return -jnp.sum(p_BYV * jnp.where(p_BYV > 0, logp_BYV, 0.0), axis=-1)


def entropy_from_logits(logits_BYV: jax.Array) -> jax.Array:
  """Token entropy of softmax(logits) [..., V] -> [...], float32, differentiable; -inf logits are
  allowed (``entropy_from_logp``)."""
  return entropy_from_logp(jax.nn.log_softmax(jnp.asarray(logits_BYV, jnp.float32), axis=-1))


def token_logprobs(logits_BYV: jax.Array, tokens_BY: jax.Array, temperature: float = 1.0):
  """Returns (logp_BY, entropy_BY) of `tokens_BY` under softmax(logits / temperature), float32."""
  logp_BYV = jax.nn.log_softmax(logits_BYV.astype(jnp.float32) / temperature, axis=-1)
  logp_BY = jnp.take_along_axis(logp_BYV, tokens_BY[..., None], axis=-1)[..., 0]
  return logp_BY, entropy_from_logp(logp_BYV)


def _chunked_token_logprobs(policy, h_BYD, tokens_BY, temperature, chunk_size):
  """`token_logprobs(policy.logits(h_BYD), ...)` with at most [B, chunk_size, V] logits live.

  Each chunk is rematerialised, so the backward pass does not keep the chunks' logits either.
  """
  B, Y, D = h_BYD.shape
  J = -(-Y // chunk_size)
  pad = J * chunk_size - Y
  h_JBCD = jnp.pad(h_BYD, ((0, 0), (0, pad), (0, 0))).reshape(B, J, chunk_size, D).swapaxes(0, 1)
  tokens_JBC = jnp.pad(tokens_BY, ((0, 0), (0, pad))).reshape(B, J, chunk_size).swapaxes(0, 1)
  graphdef, state = nnx.split(policy)

  @jax.checkpoint
  def chunk(state, h_BCD, tokens_BC):
    logits_BCV = nnx.merge(graphdef, state).logits(h_BCD)
    return token_logprobs(logits_BCV, tokens_BC, temperature)

  logp_JBC, entropy_JBC = jax.lax.map(lambda xs: chunk(state, *xs), (h_JBCD, tokens_JBC))
  unchunk = lambda x_JBC: x_JBC.swapaxes(0, 1).reshape(B, J * chunk_size)[:, :Y]
  return unchunk(logp_JBC), unchunk(entropy_JBC)


def _shared_prompt_hidden_states(
  policy: Policy, prompt_tokens_BP, prompt_mask_BP, response_tokens_BY, response_mask_BY, G: int
) -> jax.Array:
  """`response_hidden_states` when every G consecutive rows share one prompt: each prompt runs
  through the model once (Q rows, not B) and its keys / values are repeated for its G responses,
  which attend to them through a KV cache. The same function of the parameters (gradients flow
  back through the repeat into the shared prompt), at ~1 / G of the prompt's cost."""
  B, P = prompt_tokens_BP.shape
  Y = response_tokens_BY.shape[1]
  prompt_tokens_QP, prompt_mask_QP = prompt_tokens_BP[::G], prompt_mask_BP[::G]
  cache = KVCache.init(policy.cfg, B // G, P + Y - 1)
  h_QPD, cache = policy.decode_hidden(
    prompt_tokens_QP.astype(jnp.int32),
    positions_from_mask(prompt_mask_QP),
    prompt_mask_QP,
    cache,
  )
  h_first_BD = jnp.repeat(h_QPD[:, -1:], G, axis=0)  # predicts each response's first token
  if Y == 1:
    return h_first_BD
  # The response continues each row's positions after its real prompt tokens.
  start_B1 = jnp.sum(prompt_mask_BP.astype(jnp.int32), axis=1, keepdims=True)
  h_BYD, _ = policy.decode_hidden(
    response_tokens_BY[:, :-1].astype(jnp.int32),
    start_B1 + jnp.arange(Y - 1, dtype=jnp.int32),
    response_mask_BY[:, :-1],
    cache.repeat(G),
  )
  return jnp.concatenate([h_first_BD, h_BYD], axis=1)


def response_hidden_states(
  policy: Policy,
  prompt_tokens_BP,
  prompt_mask_BP,
  response_tokens_BY,
  response_mask_BY,
  group_size: int = 1,
) -> jax.Array:
  """[B, Y, D] final hidden states whose logits predict the Y response tokens (position t of the
  response is predicted from the prompt and response tokens before it); arguments as in
  `response_logprobs`."""
  if group_size > 1:
    return _shared_prompt_hidden_states(
      policy, prompt_tokens_BP, prompt_mask_BP, response_tokens_BY, response_mask_BY, group_size
    )
  P = prompt_tokens_BP.shape[1]
  # The last response token is only predicted, yet it goes in too: causality keeps it out of the
  # positions before it, and the sequence stays P + Y long (a power of two in the full-scale
  # configs) rather than P + Y - 1, whose 4095-row dots XLA:GPU found no tiling for.
  tokens_BT = jnp.concatenate(
    [prompt_tokens_BP.astype(jnp.int32), response_tokens_BY.astype(jnp.int32)], axis=1
  )
  mask_BT = jnp.concatenate(
    [prompt_mask_BP.astype(jnp.int32), response_mask_BY.astype(jnp.int32)], axis=1
  )
  h_BTD = policy.hidden_states(tokens_BT, mask_BT=mask_BT)
  return h_BTD[:, P - 1 : -1]  # position t predicts token t + 1


def response_logprobs(
  policy: Policy,
  prompt_tokens_BP: jax.Array,
  prompt_mask_BP: jax.Array,
  response_tokens_BY: jax.Array,
  response_mask_BY: jax.Array,
  *,
  temperature: float = 1.0,
  chunk_size: int | None = None,
  group_size: int = 1,
) -> tuple[jax.Array, jax.Array]:
  """Log-prob and entropy of every response token, given the prompt, in one forward pass.

  Args:
    policy: the NNX policy (differentiable through its parameters).
    prompt_tokens_BP, prompt_mask_BP: left-padded prompts, mask 1 for real tokens.
    response_tokens_BY, response_mask_BY: responses, mask 1 for real tokens (up to and including
      EOS); masked tokens may hold anything.
    temperature: the distribution is softmax(logits / temperature), for both outputs.
    chunk_size: if set, project to the vocabulary `chunk_size` positions at a time, so the
      [B, Y, V] logits are never materialised at once (also not for the backward pass).
    group_size: G > 1 when every G consecutive rows share one prompt (a GRPO group): the prompt
      is computed once per group (`_shared_prompt_hidden_states`); rounding aside, the same values.

  Returns:
    (logp_BY, entropy_BY), float32, 0 where `response_mask_BY` is 0. entropy_BY is the entropy of
    the full next-token distribution at each response position.
  """
  Y = response_tokens_BY.shape[1]
  response_tokens_BY = response_tokens_BY.astype(jnp.int32)
  h_BYD = response_hidden_states(
    policy, prompt_tokens_BP, prompt_mask_BP, response_tokens_BY, response_mask_BY, group_size
  )
  if chunk_size is None or chunk_size >= Y:
    logp_BY, entropy_BY = token_logprobs(policy.logits(h_BYD), response_tokens_BY, temperature)
  else:
    logp_BY, entropy_BY = _chunked_token_logprobs(
      policy, h_BYD, response_tokens_BY, temperature, chunk_size
    )
  valid_BY = response_mask_BY.astype(bool)
  return jnp.where(valid_BY, logp_BY, 0.0), jnp.where(valid_BY, entropy_BY, 0.0)
