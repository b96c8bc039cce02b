"""A paged KV cache: one pool of fixed-size pages per layer, and the decode step that reads it.

Shape letters (as in jax_rlvr/__init__.py): S decode slots, Q prompts of one prefill, P prompt
tokens, X pages in the pool, Z tokens per page (page_size), W pages in a slot's page table (so a
slot holds at most W·Z tokens), A, K, H, D, L.

A sequence's token j lives at page `page_table[j // Z]`, offset `j % Z`. Page 0 is the scratch
page: writes of idle slots and of padding go there and nothing reads it as a real key. Sequences
hold no padding: the prompt's real tokens come first (positions 0 .. p - 1), then the response.
The G samples of a prompt share the pages its prompt fills completely; the page it fills in part
is copied for each sample before the sample writes into it (copy_pages).

A page holds keys and values together, [Z, 2K, H] with head 2k the key and 2k + 1 the value of
KV head k: the layout of the TPU kernel `jax.experimental.pallas.ops.tpu.ragged_paged_attention`.
Attention (ATTENTION) is that kernel on TPU ("pallas"), and elsewhere a pure-JAX gather of each
slot's pages into one [W·Z] sequence read by the model's `decode_attention` ("gather").
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
  """kv: a tuple of L arrays [X, Z, 2K, H] in the compute dtype, keys at even heads and values at
  odd ones (one buffer per layer, updated in place by a donated decode step)."""

  kv: tuple[jax.Array, ...]

  @classmethod
  def init(cls, cfg: ModelConfig, num_pages: int, page_size: int) -> PagedKVCache:
    shape = (num_pages, page_size, 2 * cfg.num_kv_heads, cfg.head_dim)
    return cls(
      kv=tuple(
        sharding.constrain(jnp.zeros(shape, cfg.jnp_dtype), _XZKH) for _ in range(cfg.num_layers)
      )
    )

  @property
  def page_size(self) -> int:
    return self.kv[0].shape[1]


def bytes_per_token(cfg: ModelConfig) -> int:
  """KV bytes one token takes in the cache (keys and values of every layer)."""
  return 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * jnp.dtype(cfg.jnp_dtype).itemsize


def _interleave(k_KH, v_KH):
  """Keys and values [..., K, H] -> [..., 2K, H], key of head k at 2k and its value at 2k + 1."""
  return jnp.stack([k_KH, v_KH], axis=-2).reshape(*k_KH.shape[:-2], -1, k_KH.shape[-1])


def copy_pages(cache: PagedKVCache, src_S, dst_S) -> PagedKVCache:
  """Page dst_S[i] <- page src_S[i] in every layer (pairs SCRATCH_PAGE -> SCRATCH_PAGE do
  nothing)."""
  return PagedKVCache(kv=tuple(pages.at[dst_S].set(pages[src_S]) for pages in cache.kv))


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

  def write(pages_XZ2KH, k_QPKH, v_QPKH):
    rows_QP2KH = _interleave(k_QPKH, v_QPKH)
    blocks_QWZ2KH = jax.vmap(lambda row_P2KH, src_WZ: row_P2KH[src_WZ])(rows_QP2KH, src_QWZ)
    return pages_XZ2KH.at[page_table_QW].set(blocks_QWZ2KH.astype(pages_XZ2KH.dtype))

  return PagedKVCache(kv=tuple(map(write, cache.kv, k_layers, v_layers)))


def _gather_attention(q_SAH, pages_XZ2KH, page_table_SW, positions_S):
  """Each slot's pages gathered into one [W·Z] sequence, then `decode_attention` up to its
  position."""
  S, W = page_table_SW.shape
  Z = pages_XZ2KH.shape[1]
  kv_SL2KH = pages_XZ2KH[page_table_SW].reshape(S, W * Z, *pages_XZ2KH.shape[2:])
  real_SL = jnp.arange(W * Z)[None, :] <= positions_S[:, None]
  out_S1AH = decode_attention(
    q_SAH[:, None], kv_SL2KH[:, :, 0::2], kv_SL2KH[:, :, 1::2], real_SL, W * Z - 1
  )
  return out_S1AH[:, 0]


def _pallas_attention(q_SAH, pages_XZ2KH, page_table_SW, positions_S, block_sizes=None):
  """The TPU kernel, one query per slot (cu_q_lens 0, 1, .., S), reading the pages in place.
  block_sizes: (KV pages, queries) per block; None takes the kernel's table tuned for the TPU
  generation it compiles for (which Pallas's CPU interpreter does not have)."""
  from jax.experimental.pallas.ops.tpu.ragged_paged_attention import ragged_paged_attention

  S = q_SAH.shape[0]
  return ragged_paged_attention(
    q_SAH,
    pages_XZ2KH,
    positions_S + 1,
    page_table_SW,
    jnp.arange(S + 1, dtype=jnp.int32),
    jnp.array([S], jnp.int32),
    sm_scale=q_SAH.shape[-1] ** -0.5,
    num_kv_pages_per_block=block_sizes and block_sizes[0],
    num_queries_per_block=block_sizes and block_sizes[1],
  )


ATTENTION = {"gather": _gather_attention, "pallas": _pallas_attention}


def attention_for(platform: str) -> str:
  """The ATTENTION name for a device platform: the kernel on TPU, the gather elsewhere."""
  return "pallas" if platform == "tpu" else "gather"


def decode_hidden(
  policy: Policy,
  tokens_S,
  positions_S,
  page_table_SW,
  cache: PagedKVCache,
  *,
  attention: str = "gather",
):
  """One decode step of S slots against the paged cache: returns (final hidden states [S, D],
  the cache with each slot's new key and value written).

  tokens_S: the token each slot feeds; positions_S: its position j in the slot's sequence (its
  key goes to page page_table_SW[s, j // Z], offset j % Z; keys 0 .. j are attended). An idle
  slot's page table row must point at SCRATCH_PAGE. attention: a name of ATTENTION.
  """
  Z = cache.page_size
  attend = ATTENTION[attention]
  positions_S1 = positions_S[:, None]
  write_page_S = jnp.take_along_axis(page_table_SW, (positions_S // Z)[:, None], axis=1)[:, 0]
  write_offset_S = positions_S % Z
  x_S1D = policy.embed_tokens(tokens_S[:, None])
  new_kv = []
  for layer, block in enumerate(policy.blocks):
    q_S1AH, k_S1KH, v_S1KH = block.attn.qkv(block.attn_norm(x_S1D), positions_S1)
    pages = cache.kv[layer]
    new_S2KH = _interleave(k_S1KH[:, 0], v_S1KH[:, 0]).astype(pages.dtype)
    pages = pages.at[write_page_S, write_offset_S].set(new_S2KH)
    out_SAH = attend(q_S1AH[:, 0], pages, page_table_SW, positions_S)
    x_S1D = block.after_attention(x_S1D, block.attn.output(out_SAH[:, None]))
    new_kv.append(pages)
  return policy.final_norm(x_S1D)[:, 0], PagedKVCache(kv=tuple(new_kv))
