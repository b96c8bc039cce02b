"""Flax NNX decoder-only transformer for the Llama and Qwen2 families, with a KV cache.

Shape letters (as in jax_rlvr/__init__.py): B rows, T query tokens, S KV-cache slots, D, F, V, L,
A query heads, K key/value heads, E = A / K, H, G samples per prompt, C queries per attention block,
J attention blocks.

Conventions:
  * `mask_BT` is 1 for real tokens and 0 for padding. Prompts are left-padded; the position of a
    token is the number of real tokens before it, so a padded row gives the same logits as the
    same prompt alone.
  * Every parameter carries logical axis names (`vocab`, `embed`, `mlp`, `heads`, `kv_heads`,
    `head_dim`) in its `out_sharding` metadata; jax_rlvr.sharding maps them to mesh axes.
  * Activations carry logical names too (rows `batch`, heads over `heads` / `kv_heads`, MLP units
    over `mlp`): while a mesh is set (`jax.set_mesh`) they are pinned to the sharding the rules
    give them, so every device computes only its rows; without a mesh the pins are no-ops.
  * Rotary embeddings use the Hugging Face rotate-half layout, so HF weights load unpermuted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx, struct

from jax_rlvr import sharding
from jax_rlvr.models.config import ModelConfig

# Logical names of activations. Without them the partitioner gives the embedding lookup the
# table's layout (D over fsdp, rows replicated) and every device computes attention for all rows.
_BTD = ("batch", "length", None)
_BTAH = ("batch", "length", "heads", None)
_BSKH = ("batch", "length", "kv_heads", None)
_BTF = ("batch", "length", "mlp")
_BTV = ("batch", "length", "vocab")


def _param(rngs, shape, names, dtype, init="normal"):
  if init == "normal":
    value = 0.02 * jax.random.normal(rngs.params(), shape, jnp.float32)
  elif init == "ones":
    value = jnp.ones(shape, jnp.float32)
  else:
    value = jnp.zeros(shape, jnp.float32)
  return nnx.Param(value.astype(dtype), out_sharding=names, eager_sharding=False)


@struct.dataclass
class KVCache:
  """Preallocated keys and values, one buffer per layer.

  k, v: tuples of L arrays [B, S, K, H] in the compute dtype (separate buffers, so that a decode
  step updates each layer's buffer in place instead of copying one stacked [L, ...] array per
  layer). mask_BS: bool, True where slot s holds a real token. index: int32 scalar, the next slot
  to write (all rows write the same slot; ragged prompts are left-padded so they end together).
  """

  k: tuple[jax.Array, ...]
  v: tuple[jax.Array, ...]
  mask_BS: jax.Array
  index: jax.Array

  @classmethod
  def init(cls, cfg: ModelConfig, batch: int, max_len: int) -> KVCache:
    shape = (batch, max_len, cfg.num_kv_heads, cfg.head_dim)
    zeros = lambda: tuple(
      sharding.constrain(jnp.zeros(shape, cfg.jnp_dtype), _BSKH) for _ in range(cfg.num_layers)
    )
    return cls(
      k=zeros(),
      v=zeros(),
      mask_BS=sharding.constrain(jnp.zeros((batch, max_len), bool), ("batch", "length")),
      index=jnp.zeros((), jnp.int32),
    )

  def repeat(self, n: int) -> KVCache:
    """Repeats every row n times (row b -> rows b*n .. b*n+n-1): G samples share one prefill."""
    rep = lambda xs: tuple(sharding.constrain(jnp.repeat(x, n, axis=0), _BSKH) for x in xs)
    mask_BS = sharding.constrain(jnp.repeat(self.mask_BS, n, axis=0), ("batch", "length"))
    return KVCache(k=rep(self.k), v=rep(self.v), mask_BS=mask_BS, index=self.index)


def positions_from_mask(mask_BT: jax.Array) -> jax.Array:
  """Position of each token = number of real tokens before it (0 for left padding)."""
  return jnp.maximum(jnp.cumsum(mask_BT.astype(jnp.int32), axis=-1) - 1, 0)


def rope_inv_freq(cfg: ModelConfig) -> jax.Array:
  """Rotary inverse frequencies f_i = theta^(-2i/H), i < H/2, float32 [H/2].

  With `rope_scaling_type='llama3'` (Llama 3.1) each f is rescaled by its wavelength w = 2π/f,
  with L = rope_original_max_seq_len, s = rope_scaling_factor, a/b = rope_low/high_freq_factor:
  w < L/b keeps f, w > L/a gives f/s, and in between f((1 - g)/s + g) with g = (L/w - a)/(b - a),
  which joins the two continuously (g is 0 at w = L/a and 1 at w = L/b).
  """
  head_dim = cfg.head_dim
  inv_freq_h = 1.0 / (cfg.rope_theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))
  if cfg.rope_scaling_type == "default":
    return inv_freq_h
  low, high = cfg.rope_low_freq_factor, cfg.rope_high_freq_factor
  wavelen_h = 2.0 * jnp.pi / inv_freq_h
  # Clipping g to [0, 1] covers the two outer bands: g = 0 gives f/s, g = 1 gives f.
  g_h = jnp.clip((cfg.rope_original_max_seq_len / wavelen_h - low) / (high - low), 0.0, 1.0)
  return inv_freq_h * ((1.0 - g_h) / cfg.rope_scaling_factor + g_h)


def apply_rope(x_BTnH: jax.Array, positions_BT: jax.Array, cfg: ModelConfig) -> jax.Array:
  """Rotary embedding (frequencies from `rope_inv_freq(cfg)`) in the HF rotate-half layout.

  x_BTnH: [B, T, n, H] with n any head count; computed in float32, returned in x's dtype.
  """
  angles_BTh = positions_BT[..., None].astype(jnp.float32) * rope_inv_freq(cfg)
  angles_BTH = jnp.concatenate([angles_BTh, angles_BTh], axis=-1)[:, :, None, :]
  x = x_BTnH.astype(jnp.float32)
  x1, x2 = jnp.split(x, 2, axis=-1)
  rotated = jnp.concatenate([-x2, x1], axis=-1)
  out = x * jnp.cos(angles_BTH) + rotated * jnp.sin(angles_BTH)
  return out.astype(x_BTnH.dtype)


def _allowed_keys(key_mask_BS, start, T: int):
  """bool [B, T, S]: query t (at slot start + t) sees slot s when s <= start + t and s is real."""
  S = key_mask_BS.shape[1]
  causal_TS = (start + jnp.arange(T))[:, None] >= jnp.arange(S)[None, :]
  return causal_TS[None] & key_mask_BS[:, None, :]


def decode_attention(q_B1AH, k_BSKH, v_BSKH, key_mask_BS, start):
  """`_dot_product_attention` for one query a row (T = 1: a decode step), as products and sums.

  XLA's CPU dot runs the grouped-query products of one query as B·K tiny [E, H] × [H, S] matrix
  products; written as broadcast multiplies summed over H and then S they compile to a few
  fused loops instead (a whole smollm2-135m-shape decode step 8-14% faster at batch 8-64,
  docs/benchmarks.md). Same numerics: float32 scores and softmax, probabilities rounded to the
  values' dtype, masked scores at a large finite negative. Returns [B, 1, A, H] in q's dtype.
  """
  B, _, A, H = q_B1AH.shape
  K = k_BSKH.shape[2]
  f32 = jnp.float32
  q_B1KEH = q_B1AH.reshape(B, 1, K, A // K, H).astype(f32) * f32(H**-0.5)
  scores_BSKE = jnp.sum(q_B1KEH * k_BSKH[:, :, :, None].astype(f32), axis=-1)
  allowed_BS11 = _allowed_keys(key_mask_BS, start, 1)[:, 0, :, None, None]
  large_negative = f32(-0.7 * jnp.finfo(f32).max)
  probs_BSKE = jax.nn.softmax(jnp.where(allowed_BS11, scores_BSKE, large_negative), axis=1)
  probs_BSKE = probs_BSKE.astype(v_BSKH.dtype).astype(f32)
  out_BKEH = jnp.sum(probs_BSKE[..., None] * v_BSKH[:, :, :, None].astype(f32), axis=1)
  return out_BKEH.reshape(B, 1, A, H).astype(q_B1AH.dtype)


def _dot_product_attention(q_BTAH, k_BSKH, v_BSKH, key_mask_BS, start, implementation):
  # A fully masked (padding) query row gets a uniform softmax over a large negative constant,
  # finite, not NaN.
  allowed_B1TS = _allowed_keys(key_mask_BS, start, q_BTAH.shape[1])[:, None]
  return jax.nn.dot_product_attention(
    q_BTAH, k_BSKH, v_BSKH, mask=allowed_B1TS, implementation=implementation
  )


def _chunked_attention(q_BTAH, k_BSKH, v_BSKH, key_mask_BS, start, chunk: int):
  """`_dot_product_attention` one block of `chunk` queries at a time (J blocks).

  Only one block's [B, A, chunk, S] scores exist at a time, in the backward pass too: each block
  is rematerialised, so the scan saves only its queries, not its probabilities.
  """
  B, T, A, H = q_BTAH.shape
  J = -(-T // chunk)
  q_JBCAH = jnp.pad(q_BTAH, ((0, 0), (0, J * chunk - T), (0, 0), (0, 0)))
  q_JBCAH = q_JBCAH.reshape(B, J, chunk, A, H).swapaxes(0, 1)
  starts_J = start + chunk * jnp.arange(J)

  @jax.checkpoint
  def block(q_BCAH, block_start, k_BSKH, v_BSKH, key_mask_BS):
    return _dot_product_attention(q_BCAH, k_BSKH, v_BSKH, key_mask_BS, block_start, "xla")

  out_JBCAH = jax.lax.map(lambda xs: block(*xs, k_BSKH, v_BSKH, key_mask_BS), (q_JBCAH, starts_J))
  return out_JBCAH.swapaxes(0, 1).reshape(B, J * chunk, A, H)[:, :T]


def attention(q_BTAH, k_BSKH, v_BSKH, key_mask_BS, start, implementation="xla", chunk=512):
  """Grouped-query attention softmax(q·kᵀ/√H)·v over the allowed keys (causal by slot, real).

  q_BTAH: queries at slots start .. start + T - 1; k_BSKH, v_BSKH: keys and values of S slots
  (K divides A); key_mask_BS: bool, real keys. Returns [B, T, A, H] in q's dtype.
  implementation: 'xla' or 'cudnn' (jax.nn.dot_product_attention's kernels; 'xla' materialises
  the [B, A, T, S] scores), or 'chunked' (the 'xla' kernel on blocks of `chunk` queries). With
  one query (T = 1, decoding) all three use `decode_attention`.
  """
  if q_BTAH.shape[1] == 1:
    return decode_attention(q_BTAH, k_BSKH, v_BSKH, key_mask_BS, start)
  if implementation == "chunked":
    if q_BTAH.shape[1] <= chunk:
      return _dot_product_attention(q_BTAH, k_BSKH, v_BSKH, key_mask_BS, start, "xla")
    return _chunked_attention(q_BTAH, k_BSKH, v_BSKH, key_mask_BS, start, chunk)
  return _dot_product_attention(q_BTAH, k_BSKH, v_BSKH, key_mask_BS, start, implementation)


class RMSNorm(nnx.Module):
  def __init__(self, dim: int, eps: float, dtype, *, rngs: nnx.Rngs):
    self.eps = eps
    self.scale = _param(rngs, (dim,), ("embed",), dtype, init="ones")

  def __call__(self, x):
    x32 = x.astype(jnp.float32)
    normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
    return self.scale[...].astype(x.dtype) * normed.astype(x.dtype)


class Attention(nnx.Module):
  """Grouped-query attention with optional q/k/v bias (Qwen2)."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    D, A, K, H, p = (
      cfg.embed_dim,
      cfg.num_heads,
      cfg.num_kv_heads,
      cfg.head_dim,
      cfg.jnp_param_dtype,
    )
    self.q = _param(rngs, (D, A, H), ("embed", "heads", "head_dim"), p)
    self.k = _param(rngs, (D, K, H), ("embed", "kv_heads", "head_dim"), p)
    self.v = _param(rngs, (D, K, H), ("embed", "kv_heads", "head_dim"), p)
    self.o = _param(rngs, (A, H, D), ("heads", "head_dim", "embed"), p)
    if cfg.qkv_bias:
      self.q_bias = _param(rngs, (A, H), ("heads", "head_dim"), p, init="zeros")
      self.k_bias = _param(rngs, (K, H), ("kv_heads", "head_dim"), p, init="zeros")
      self.v_bias = _param(rngs, (K, H), ("kv_heads", "head_dim"), p, init="zeros")

  def _project(self, x_BTD, name):
    w = getattr(self, name)[...].astype(x_BTD.dtype)
    y = jnp.einsum("btd,dnh->btnh", x_BTD, w)
    if self.cfg.qkv_bias:
      y = y + getattr(self, f"{name}_bias")[...].astype(y.dtype)
    return sharding.constrain(y, _BTAH if name == "q" else _BSKH)

  def qkv(self, x_BTD, positions_BT):
    """Rotated queries [B, T, A, H], rotated keys and values [B, T, K, H] of T tokens."""
    q_BTAH = apply_rope(self._project(x_BTD, "q"), positions_BT, self.cfg)
    k_BTKH = apply_rope(self._project(x_BTD, "k"), positions_BT, self.cfg)
    return q_BTAH, k_BTKH, self._project(x_BTD, "v")

  def output(self, out_BTAH):
    """The heads' outputs [B, T, A, H] projected back to [B, T, D]."""
    return jnp.einsum("btnh,nhd->btd", out_BTAH, self.o[...].astype(out_BTAH.dtype))

  def __call__(self, x_BTD, positions_BT, key_mask_BS, kv_cache=None, write_index=None):
    """Returns (out_BTD, (k_BSKH, v_BSKH)): the output and the keys and values attended to.

    Without a cache, keys are the T tokens themselves (S = T). With `kv_cache=(k, v)` of
    shape [B, S, K, H], the new keys are written at slots [write_index, write_index + T) and the
    updated buffers are returned. `key_mask_BS` marks real keys; causality is by slot order.
    """
    cfg = self.cfg
    q_BTAH, k_BTKH, v_BTKH = self.qkv(x_BTD, positions_BT)
    if kv_cache is None:
      k_BSKH, v_BSKH, start = k_BTKH, v_BTKH, 0
    else:
      k_cache, v_cache = kv_cache
      k_BTKH, v_BTKH = k_BTKH.astype(k_cache.dtype), v_BTKH.astype(v_cache.dtype)
      k_BSKH = jax.lax.dynamic_update_slice_in_dim(k_cache, k_BTKH, write_index, axis=1)
      v_BSKH = jax.lax.dynamic_update_slice_in_dim(v_cache, v_BTKH, write_index, axis=1)
      k_BSKH, v_BSKH = sharding.constrain(k_BSKH, _BSKH), sharding.constrain(v_BSKH, _BSKH)
      start = write_index
    # Cached prefill and decoding have no backward pass: the plain kernel (decoding, T = 1, is
    # `decode_attention`).
    implementation = cfg.attention if kv_cache is None else "xla"
    out_BTAH = attention(
      q_BTAH, k_BSKH, v_BSKH, key_mask_BS, start, implementation, cfg.attention_chunk_size
    )
    return self.output(out_BTAH), (k_BSKH, v_BSKH)


class MLP(nnx.Module):
  """SwiGLU: down(silu(gate(x)) * up(x))."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    D, F, p = cfg.embed_dim, cfg.mlp_dim, cfg.jnp_param_dtype
    self.gate = _param(rngs, (D, F), ("embed", "mlp"), p)
    self.up = _param(rngs, (D, F), ("embed", "mlp"), p)
    self.down = _param(rngs, (F, D), ("mlp", "embed"), p)

  def __call__(self, x_BTD):
    dt = x_BTD.dtype
    h_BTF = jax.nn.silu(x_BTD @ self.gate[...].astype(dt)) * (x_BTD @ self.up[...].astype(dt))
    return sharding.constrain(h_BTF, _BTF) @ self.down[...].astype(dt)


class Block(nnx.Module):
  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    p = cfg.jnp_param_dtype
    self.attn_norm = RMSNorm(cfg.embed_dim, cfg.norm_eps, p, rngs=rngs)
    self.attn = Attention(cfg, rngs=rngs)
    self.mlp_norm = RMSNorm(cfg.embed_dim, cfg.norm_eps, p, rngs=rngs)
    self.mlp = MLP(cfg, rngs=rngs)

  def __call__(self, x_BTD, positions_BT, key_mask_BS, kv_cache=None, write_index=None):
    attn_out, kv = self.attn(
      self.attn_norm(x_BTD), positions_BT, key_mask_BS, kv_cache, write_index
    )
    return self.after_attention(x_BTD, attn_out), kv

  def after_attention(self, x_BTD, attn_out_BTD):
    """The block's output from its input and its attention's output (residuals and the MLP)."""
    x_BTD = sharding.constrain(x_BTD + attn_out_BTD, _BTD)
    return sharding.constrain(x_BTD + self.mlp(self.mlp_norm(x_BTD)), _BTD)


class Policy(nnx.Module):
  """Decoder-only language model. `policy(tokens_BT)` returns float32 logits [B, T, V]."""

  def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    p = cfg.jnp_param_dtype
    self.embed = _param(rngs, (cfg.vocab_size, cfg.embed_dim), ("vocab", "embed"), p)
    self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
    self.final_norm = RMSNorm(cfg.embed_dim, cfg.norm_eps, p, rngs=rngs)
    if not cfg.tie_embeddings:
      self.lm_head = _param(rngs, (cfg.embed_dim, cfg.vocab_size), ("embed", "vocab"), p)

  def _run_blocks(self, tokens_BT, positions_BT, key_mask_BS, cache):
    """Returns (h_BTD, cache with the new keys/values written, or None without a cache)."""
    x_BTD = self.embed_tokens(tokens_BT)
    new_k, new_v = [], []
    for layer, block in enumerate(self.blocks):
      kv = None if cache is None else (cache.k[layer], cache.v[layer])
      index = None if cache is None else cache.index
      # Remat only matters for training passes; cached decoding has no backward pass (and
      # nnx.remat inside the sampler's while_loop raises a trace-context error).
      if self.cfg.remat and cache is None:
        x_BTD, (k_BSKH, v_BSKH) = nnx.remat(lambda blk, *a: blk(*a))(
          block, x_BTD, positions_BT, key_mask_BS, kv, index
        )
      else:
        x_BTD, (k_BSKH, v_BSKH) = block(x_BTD, positions_BT, key_mask_BS, kv, index)
      new_k.append(k_BSKH)
      new_v.append(v_BSKH)
    if cache is not None:
      cache = cache.replace(k=tuple(new_k), v=tuple(new_v))
    return self.final_norm(x_BTD), cache

  def embed_tokens(self, tokens_BT):
    """Token embeddings [B, T, D] in the compute dtype."""
    # The table gathered over fsdp first (in the compute dtype): a lookup into D-sharded rows
    # would give D-sharded activations that the partitioner can only reshard to rows by
    # replicating them whole.
    table_VD = sharding.constrain(self.embed[...].astype(self.cfg.jnp_dtype), ("vocab", None))
    return sharding.constrain(table_VD[tokens_BT], _BTD)

  def hidden_states(self, tokens_BT, *, positions_BT=None, mask_BT=None):
    """Final normalised hidden states [B, T, D] (compute dtype), without a cache."""
    if mask_BT is None:
      mask_BT = jnp.ones(tokens_BT.shape, jnp.int32)
    if positions_BT is None:
      positions_BT = positions_from_mask(mask_BT)
    h_BTD, _ = self._run_blocks(tokens_BT, positions_BT, mask_BT.astype(bool), None)
    return h_BTD

  def logits(self, h_BTD):
    """float32 logits [B, T, V] from hidden states [B, T, D]."""
    if self.cfg.tie_embeddings:
      w_DV = self.embed[...].astype(h_BTD.dtype).T
    else:
      w_DV = self.lm_head[...].astype(h_BTD.dtype)
    logits_BTV = jnp.einsum("btd,dv->btv", h_BTD, w_DV, preferred_element_type=jnp.float32)
    return sharding.constrain(logits_BTV, _BTV)

  def __call__(self, tokens_BT, *, positions_BT=None, mask_BT=None):
    """Causal logits [B, T, V] float32; positions follow `mask_BT` (default all real)."""
    return self.logits(self.hidden_states(tokens_BT, positions_BT=positions_BT, mask_BT=mask_BT))

  def decode_hidden(self, tokens_BT, positions_BT, mask_BT, cache: KVCache):
    """Like `decode_step`, but returns final hidden states [B, T, D] instead of logits.

    Lets a prefill project only the last position to the vocabulary.
    """
    T = tokens_BT.shape[1]
    key_mask_BS = jax.lax.dynamic_update_slice_in_dim(
      cache.mask_BS, mask_BT.astype(bool), cache.index, axis=1
    )
    cache = cache.replace(mask_BS=key_mask_BS)
    h_BTD, cache = self._run_blocks(tokens_BT, positions_BT, key_mask_BS, cache)
    return h_BTD, cache.replace(index=cache.index + T)

  def decode_step(self, tokens_BT, positions_BT, mask_BT, cache: KVCache):
    """Runs T new tokens against `cache`, writing them at slots [index, index + T).

    Used for both prefill (T = prompt length, mask_BT marks left padding) and decoding (T = 1).
    Returns (logits_BTV float32, updated cache).
    """
    h_BTD, cache = self.decode_hidden(tokens_BT, positions_BT, mask_BT, cache)
    return self.logits(h_BTD), cache


def count_params(model: nnx.Module) -> int:
  return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
