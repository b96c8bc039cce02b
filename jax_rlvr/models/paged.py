"""A paged KV cache: one pool of fixed-size pages per layer, and the decode step that reads it.

Shape letters (as in jax_rlvr/__init__.py): S decode slots, Q prompts of one prefill, P prompt
tokens, X pages in the pool, Z tokens per page (page_size), W pages in a slot's page table (so a
slot holds at most W·Z tokens), A, K, H, D, L.

A sequence's token j lives at page `page_table[j // Z]`, offset `j % Z`. Page 0 is the scratch
page: writes of idle slots and of padding go there and nothing reads it as a real key. Sequences
hold no padding: the prompt's real tokens come first (positions 0 .. p - 1), then the response.
The G samples of a prompt share the pages its prompt fills completely; the page it fills in part
is copied for each sample before the sample writes into it (copy_pages).

Attention here gathers each slot's pages into one [M·Z] sequence and runs the model's
`decode_attention` on it, masked to the slot's length: the pure-JAX path, on every backend.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jax_rlvr import sharding
from jax_rlvr.models.config import ModelConfig
from jax_rlvr.models.policy import Policy, decode_attention

SCRATCH_PAGE = 0
_XZKH = (None, None, "kv_heads", None)


@struct.dataclass
class PagedKVCache:
  """k, v: tuples of L arrays [X, Z, K, H] in the compute dtype (one buffer per layer, updated in
  place by a donated decode step)."""

  k: tuple[jax.Array, ...]
  v: tuple[jax.Array, ...]

  @classmethod
  def init(cls, cfg: ModelConfig, num_pages: int, page_size: int) -> PagedKVCache:
    shape = (num_pages, page_size, cfg.num_kv_heads, cfg.head_dim)
    zeros = lambda: tuple(
      sharding.constrain(jnp.zeros(shape, cfg.jnp_dtype), _XZKH) for _ in range(cfg.num_layers)
    )
    return cls(k=zeros(), v=zeros())

  @property
  def page_size(self) -> int:
    return self.k[0].shape[1]


def bytes_per_token(cfg: ModelConfig) -> int:
  """KV bytes one token takes in the cache (keys and values of every layer)."""
  return 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * jnp.dtype(cfg.jnp_dtype).itemsize


def _map_layers(cache: PagedKVCache, fn) -> PagedKVCache:
  return PagedKVCache(k=tuple(map(fn, cache.k)), v=tuple(map(fn, cache.v)))


def copy_pages(cache: PagedKVCache, src_S, dst_S) -> PagedKVCache:
  """Page dst_S[i] <- page src_S[i] in every layer (pairs SCRATCH_PAGE -> SCRATCH_PAGE do
  nothing)."""
  return _map_layers(cache, lambda pages: pages.at[dst_S].set(pages[src_S]))


def write_prompts(cache: PagedKVCache, k_layers, v_layers, prompt_len_Q, page_table_QW):
  """Writes Q left-padded prompts' keys and values (L arrays [Q, P, K, H], as a prefill over a
  contiguous cache leaves them) into their pages: real token j of prompt i goes to page
  page_table_QW[i, j // Z], offset j % Z. Pages past a prompt's length must be SCRATCH_PAGE."""
  Q, P = k_layers[0].shape[:2]
  Z = cache.page_size
  W = page_table_QW.shape[1]
  j_WZ = jnp.arange(W * Z).reshape(W, Z)
  # Source column of token j in the left-padded row; columns past the prompt are never read.
  src_QWZ = jnp.clip(P - prompt_len_Q[:, None, None] + j_WZ[None], 0, P - 1)

  def write(pages_XZKH, rows_QPKH):
    blocks_QWZKH = jax.vmap(lambda row_PKH, src_WZ: row_PKH[src_WZ])(rows_QPKH, src_QWZ)
    return pages_XZKH.at[page_table_QW].set(blocks_QWZKH.astype(pages_XZKH.dtype))

  return PagedKVCache(
    k=tuple(map(write, cache.k, k_layers)), v=tuple(map(write, cache.v, v_layers))
  )


def gather_pages(pages_XZKH, page_table_SW):
  """Each slot's pages as one sequence: [S, W·Z, K, H]."""
  S, W = page_table_SW.shape
  _, Z, K, H = pages_XZKH.shape
  return pages_XZKH[page_table_SW].reshape(S, W * Z, K, H)


def decode_hidden(policy: Policy, tokens_S, positions_S, page_table_SW, cache: PagedKVCache):
  """One decode step of S slots against the paged cache: returns (final hidden states [S, D],
  the cache with each slot's new key and value written).

  tokens_S: the token each slot feeds; positions_S: its position j in the slot's sequence (its
  key goes to page page_table_SW[s, j // Z], offset j % Z; keys 0 .. j are attended). An idle
  slot's page table row must point at SCRATCH_PAGE.
  """
  Z = cache.page_size
  S, W = page_table_SW.shape
  positions_S1 = positions_S[:, None]
  write_page_S = jnp.take_along_axis(page_table_SW, (positions_S // Z)[:, None], axis=1)[:, 0]
  write_offset_S = positions_S % Z
  key_mask_SL = jnp.arange(W * Z)[None, :] <= positions_S[:, None]
  x_S1D = policy.embed_tokens(tokens_S[:, None])
  new_k, new_v = [], []
  for layer, block in enumerate(policy.blocks):
    q_S1AH, k_S1KH, v_S1KH = block.attn.qkv(block.attn_norm(x_S1D), positions_S1)
    k_pages = (
      cache.k[layer].at[write_page_S, write_offset_S].set(k_S1KH[:, 0].astype(cache.k[0].dtype))
    )
    v_pages = (
      cache.v[layer].at[write_page_S, write_offset_S].set(v_S1KH[:, 0].astype(cache.v[0].dtype))
    )
    out_S1AH = decode_attention(
      q_S1AH,
      gather_pages(k_pages, page_table_SW),
      gather_pages(v_pages, page_table_SW),
      key_mask_SL,
      W * Z - 1,  # causality is in the mask: every gathered key up to the position is real
    )
    x_S1D = block.after_attention(x_S1D, block.attn.output(out_S1AH))
    new_k.append(k_pages)
    new_v.append(v_pages)
  return policy.final_norm(x_S1D)[:, 0], PagedKVCache(k=tuple(new_k), v=tuple(new_v))
