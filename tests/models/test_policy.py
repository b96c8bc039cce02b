"""Numerical tests of the Flax NNX policy against a NumPy reference and against itself.

Shape letters as in jax_rlvr/__init__.py: B rows, T tokens, D, A query heads, K key/value heads,
E = A / K query heads per key/value head, H, V.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jax_rlvr.models import (
  PRESETS,
  KVCache,
  ModelConfig,
  Policy,
  count_params,
  positions_from_mask,
)
from jax_rlvr.models import policy as policy_lib
from jax_rlvr.models.policy import apply_rope, rope_inv_freq
from tests.numerics import assert_f32_close

CFG = ModelConfig(
  vocab_size=31,
  embed_dim=32,
  mlp_dim=48,
  num_layers=2,
  num_heads=4,
  num_kv_heads=2,
  head_dim=8,
  rope_theta=500.0,
  norm_eps=1e-5,
  max_seq_len=64,
)
# Llama 3.1 scaling with a short original context: with head_dim 8 and theta 500 the wavelengths
# 2π·500^(i/4) = 6.3, 30, 140, 664 fall in the kept (< 32/4), blended and divided (> 32/1) bands.
LLAMA3 = dict(rope_scaling_type="llama3", rope_scaling_factor=8.0, rope_original_max_seq_len=32)
LOGICAL_AXES = {"vocab", "embed", "mlp", "heads", "kv_heads", "head_dim"}


# Jitted entry points: one XLA compilation per shape is much faster than eager op-by-op dispatch.
_forward = nnx.jit(lambda model, tokens_BT, mask_BT: model(tokens_BT, mask_BT=mask_BT))
_decode_step = nnx.jit(lambda model, *args: model.decode_step(*args))
_hidden_states = nnx.jit(lambda model, tokens_BT: model.hidden_states(tokens_BT))


def _logits(model, tokens_BT, mask_BT=None) -> np.ndarray:
  tokens_BT = np.asarray(tokens_BT, np.int32)
  mask_BT = np.ones_like(tokens_BT) if mask_BT is None else mask_BT
  return np.asarray(_forward(model, jnp.asarray(tokens_BT), jnp.asarray(mask_BT, jnp.int32)))


def _params(model) -> dict[tuple, nnx.Variable]:
  return dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))


def _abstract(cfg: ModelConfig) -> Policy:
  """A Policy whose parameters are still shapes; every test sets all of them (no random init)."""
  return nnx.eval_shape(lambda: Policy(cfg, rngs=nnx.Rngs(0)))


def _make(cfg: ModelConfig, seed: int = 0) -> Policy:
  """A policy with O(1) random weights, so logits are far from uniform and bugs show."""
  model = _abstract(cfg)
  rng = np.random.default_rng(seed)
  for path, var in _params(model).items():
    shape = var.get_value().shape
    if path[-1] == "scale":
      value = 1.0 + 0.2 * rng.standard_normal(shape)
    elif path[-1].endswith("_bias"):
      value = 0.5 * rng.standard_normal(shape)
    else:
      fan_in = shape[0] if path[-1] != "o" else shape[0] * shape[1]
      value = rng.standard_normal(shape) / np.sqrt(1.0 if path[-1] == "embed" else fan_in)
    var.set_value(jnp.asarray(value, cfg.jnp_param_dtype))
  return model


def _left_pad(prompts: list[list[int]], pad_id: int = 0):
  width = max(map(len, prompts))
  tokens = np.full((len(prompts), width), pad_id, np.int32)
  mask = np.zeros((len(prompts), width), np.int32)
  for row, prompt in enumerate(prompts):
    tokens[row, width - len(prompt) :] = prompt
    mask[row, width - len(prompt) :] = 1
  return tokens, mask


def _prompts(lengths, seed=1, vocab=CFG.vocab_size):
  rng = np.random.default_rng(seed)
  return [rng.integers(1, vocab, n).tolist() for n in lengths]


# --- NumPy reference of the whole forward pass ---------------------------------------------------


def _np_rms(x, scale, eps):
  return scale * x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


def _np_inv_freq(cfg: ModelConfig) -> np.ndarray:
  """float64 RoPE frequencies; Llama 3.1 scaling band by band, as in Meta's reference code."""
  freqs = cfg.rope_theta ** (-np.arange(0, cfg.head_dim, 2) / cfg.head_dim)
  if cfg.rope_scaling_type == "default":
    return freqs
  L, factor = cfg.rope_original_max_seq_len, cfg.rope_scaling_factor
  low, high = cfg.rope_low_freq_factor, cfg.rope_high_freq_factor
  out = []
  for freq in freqs:
    wavelen = 2 * np.pi / freq
    if wavelen < L / high:
      out.append(freq)
    elif wavelen > L / low:
      out.append(freq / factor)
    else:
      smooth = (L / wavelen - low) / (high - low)
      out.append((1 - smooth) * freq / factor + smooth * freq)
  return np.array(out)


def _np_rope(x_TnH, pos_T, inv_freq_h):
  """HF rotate-half RoPE: dims i and i + H/2 form one rotated pair with frequency inv_freq_h[i]."""
  half = x_TnH.shape[-1] // 2
  angle = pos_T[:, None, None] * inv_freq_h
  a, b = x_TnH[..., :half], x_TnH[..., half:]
  return np.concatenate(
    [a * np.cos(angle) - b * np.sin(angle), b * np.cos(angle) + a * np.sin(angle)], -1
  )


def _np_forward(model: Policy, tokens_T, mask_T):
  """float64 logits [T, V] of one (left-padded) row, with a per-head loop over attention."""
  cfg = model.cfg
  p = {k: np.asarray(v.get_value(), np.float64) for k, v in _params(model).items()}
  real = mask_T.astype(bool)
  pos = np.maximum(np.cumsum(mask_T) - 1, 0).astype(np.float64)
  x = p[("embed",)][tokens_T]
  T, E = len(tokens_T), cfg.num_heads // cfg.num_kv_heads
  allowed = np.tril(np.ones((T, T), bool)) & real[None, :]
  for i in range(cfg.num_layers):
    w = {k[2:]: v for k, v in p.items() if k[:2] == ("blocks", i)}
    h = _np_rms(x, w[("attn_norm", "scale")], cfg.norm_eps)
    q = np.einsum("td,dnh->tnh", h, w[("attn", "q")])
    k = np.einsum("td,dkh->tkh", h, w[("attn", "k")])
    v = np.einsum("td,dkh->tkh", h, w[("attn", "v")])
    if cfg.qkv_bias:
      q, k, v = q + w[("attn", "q_bias")], k + w[("attn", "k_bias")], v + w[("attn", "v_bias")]
    q, k = _np_rope(q, pos, _np_inv_freq(cfg)), _np_rope(k, pos, _np_inv_freq(cfg))
    heads = []
    for n in range(cfg.num_heads):
      scores = q[:, n] @ k[:, n // E].T / np.sqrt(cfg.head_dim)
      scores = np.where(allowed, scores, -np.inf)
      scores = np.where(allowed.any(-1, keepdims=True), scores, 0.0)  # all-padding rows
      probs = np.exp(scores - scores.max(-1, keepdims=True))
      heads.append((probs / probs.sum(-1, keepdims=True)) @ v[:, n // E])
    x = x + np.einsum("tnh,nhd->td", np.stack(heads, 1), w[("attn", "o")])
    h = _np_rms(x, w[("mlp_norm", "scale")], cfg.norm_eps)
    gate = h @ w[("mlp", "gate")]
    x = x + (gate / (1 + np.exp(-gate)) * (h @ w[("mlp", "up")])) @ w[("mlp", "down")]
  h = _np_rms(x, p[("final_norm", "scale")], cfg.norm_eps)
  return h @ (p[("embed",)].T if cfg.tie_embeddings else p[("lm_head",)])


@pytest.mark.parametrize(
  "overrides",
  [
    {},
    {"qkv_bias": True, "family": "qwen2"},
    {"tie_embeddings": True},
    {"num_kv_heads": 1},
    {"num_kv_heads": 4},
    LLAMA3,
    {"attention": "chunked", "attention_chunk_size": 4},
    {"attention": "chunked", "attention_chunk_size": 1, "num_kv_heads": 1},
  ],
  ids=["gqa", "qkv_bias", "tied", "mqa", "mha", "llama3_rope", "chunked", "chunked_1_mqa"],
)
def test_matches_numpy_reference_on_left_padded_batch(overrides):
  model = _make(CFG.replace(**overrides))
  tokens, mask = _left_pad(_prompts([3, 6, 4]))
  logits = _logits(model, tokens, mask)
  assert logits.dtype == np.float32
  for row in range(len(tokens)):
    ref = _np_forward(model, tokens[row], mask[row])
    real = mask[row].astype(bool)
    np.testing.assert_allclose(logits[row][real], ref[real], atol=2e-4, rtol=1e-4)


def test_chunked_attention_gradients_equal_the_xla_kernel_with_remat():
  """Query blocks of 3 on T = 7 (one padded block): the same loss and parameter gradients."""
  tokens, mask = _left_pad(_prompts([4, 7, 2]))
  loss = lambda model: jnp.sum(jnp.sin(model(jnp.asarray(tokens), mask_BT=jnp.asarray(mask))))
  grads = {}
  for attention in ("xla", "chunked"):
    cfg = CFG.replace(attention=attention, attention_chunk_size=3, remat=True)
    model = _make(cfg)
    value, grad = nnx.jit(nnx.value_and_grad(loss))(model)
    grads[attention] = (value, jax.tree.leaves(nnx.state(grad, nnx.Param)))
  np.testing.assert_allclose(grads["chunked"][0], grads["xla"][0], rtol=1e-5)
  for a, b in zip(grads["chunked"][1], grads["xla"][1], strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("num_kv_heads", [1, 2, 6])
def test_one_query_attention_equals_the_library_kernel(dtype, num_kv_heads):
  """T = 1 (`decode_attention`) against jax.nn.dot_product_attention on the same inputs, with a
  left-padded row, a row whose query slot precedes some real keys, and a fully masked row."""
  B, S, A, H = 3, 9, 6, 16
  keys = jax.random.split(jax.random.key(0), 3)
  q = jax.random.normal(keys[0], (B, 1, A, H)).astype(dtype)
  k, v = (jax.random.normal(key, (B, S, num_kv_heads, H)).astype(dtype) for key in keys[1:])
  key_mask = np.ones((B, S), bool)
  key_mask[0, :3] = False
  key_mask[2] = False
  for start in (5, 8):
    got = policy_lib.attention(q, k, v, jnp.asarray(key_mask), start)
    want = policy_lib._dot_product_attention(q, k, v, jnp.asarray(key_mask), start, "xla")
    assert got.shape == want.shape == (B, 1, A, H) and got.dtype == dtype
    tol = 1e-2 if dtype == jnp.bfloat16 else 1e-6
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32), atol=tol)


def test_unknown_attention_implementation_is_rejected():
  with pytest.raises(ValueError, match="attention="):
    CFG.replace(attention="flash")


def test_left_padded_batch_equals_each_prompt_alone():
  model = _make(CFG)
  prompts = _prompts([2, 7, 5])
  tokens, mask = _left_pad(prompts)
  batch = _logits(model, tokens, mask)
  for row, prompt in enumerate(prompts):
    alone = _logits(model, [prompt])[0]
    np.testing.assert_allclose(batch[row, -len(prompt) :], alone, atol=2e-5, rtol=1e-5)
  # The padding id must not matter either.
  tokens_other_pad, _ = _left_pad(prompts, pad_id=7)
  batch_other_pad = _logits(model, tokens_other_pad, mask)
  real = mask.astype(bool)
  np.testing.assert_allclose(batch_other_pad[real], batch[real], atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("attention", ["xla", "chunked"])
def test_kv_cache_prefill_and_decode_equal_full_forward(attention):
  # The cached path uses the plain kernel (one query: `decode_attention`); the full forward
  # uses `attention`.
  cfg = CFG.replace(attention=attention, attention_chunk_size=2)
  model = _make(cfg)
  tokens, mask = _left_pad(_prompts([3, 6, 5]))
  B, P = tokens.shape
  new_tokens = np.random.default_rng(2).integers(1, CFG.vocab_size, (B, 3)).astype(np.int32)

  cache = KVCache.init(cfg, B, P + new_tokens.shape[1])
  positions = positions_from_mask(jnp.asarray(mask))
  prefill_logits, cache = _decode_step(
    model, jnp.asarray(tokens), positions, jnp.asarray(mask), cache
  )
  step_logits = []
  next_pos = positions[:, -1:] + 1
  for t in range(new_tokens.shape[1]):
    logits, cache = _decode_step(
      model, jnp.asarray(new_tokens[:, t : t + 1]), next_pos, jnp.ones((B, 1), jnp.int32), cache
    )
    step_logits.append(np.asarray(logits[:, 0]))
    next_pos = next_pos + 1
  assert int(cache.index) == P + new_tokens.shape[1]

  full_mask = np.concatenate([mask, np.ones_like(new_tokens)], axis=1)
  full = _logits(model, np.concatenate([tokens, new_tokens], 1), full_mask)
  real = mask.astype(bool)
  np.testing.assert_allclose(np.asarray(prefill_logits)[real], full[:, :P][real], atol=2e-5)
  np.testing.assert_allclose(np.stack(step_logits, 1), full[:, P:], atol=2e-5)


def test_bfloat16_params_and_compute_give_float32_logits_close_to_float32():
  model32 = _make(CFG)
  cfg16 = CFG.replace(param_dtype="bfloat16", dtype="bfloat16")
  model16 = _abstract(cfg16)
  params32 = _params(model32)
  for path, var in _params(model16).items():
    var.set_value(params32[path].get_value().astype(jnp.bfloat16))
  assert all(v.get_value().dtype == jnp.bfloat16 for v in _params(model16).values())

  tokens, mask = _left_pad(_prompts([4, 8]))
  logits32 = _logits(model32, tokens, mask)
  logits16 = _logits(model16, tokens, mask)
  assert logits16.dtype == np.float32
  real = mask.astype(bool)
  err = np.abs(logits16 - logits32)[real]
  scale = np.abs(logits32[real]).max()
  assert scale > 1.0, "weights too small for a meaningful comparison"
  assert err.max() < 0.025 * scale, (err.max(), scale)
  assert err.max() > 0, "bfloat16 compute should not be bit-identical to float32"


def test_every_parameter_has_logical_axis_names_of_its_rank():
  for cfg in (CFG, CFG.replace(qkv_bias=True, family="qwen2", tie_embeddings=True)):
    model = _abstract(cfg)
    specs = dict(nnx.to_flat_state(nnx.get_partition_spec(nnx.state(model, nnx.Param))))
    values = _params(model)
    assert specs.keys() == values.keys()
    for path, spec in specs.items():
      names = tuple(spec.get_value())
      assert len(names) == values[path].get_value().ndim, path
      assert set(names) <= LOGICAL_AXES, (path, names)
    assert tuple(specs[("embed",)].get_value()) == ("vocab", "embed")
    assert tuple(specs[("blocks", 0, "attn", "q")].get_value()) == ("embed", "heads", "head_dim")
    assert tuple(specs[("blocks", 1, "attn", "k")].get_value()) == ("embed", "kv_heads", "head_dim")
    assert tuple(specs[("blocks", 0, "attn", "o")].get_value()) == ("heads", "head_dim", "embed")
    assert tuple(specs[("blocks", 0, "mlp", "down")].get_value()) == ("mlp", "embed")


def test_tied_and_untied_output_projection():
  untied = _make(CFG)
  tied = _make(CFG.replace(tie_embeddings=True))
  assert ("lm_head",) in _params(untied) and ("lm_head",) not in _params(tied)
  assert count_params(untied) - count_params(tied) == CFG.vocab_size * CFG.embed_dim

  tokens = np.asarray(_prompts([5]), np.int32)
  h_tied = np.asarray(_hidden_states(tied, tokens))
  np.testing.assert_allclose(
    _logits(tied, tokens), h_tied @ np.asarray(tied.embed.get_value()).T, atol=1e-4
  )
  h_untied = np.asarray(_hidden_states(untied, tokens))
  np.testing.assert_allclose(
    _logits(untied, tokens), h_untied @ np.asarray(untied.lm_head.get_value()), atol=1e-4
  )


def test_qkv_bias_is_used_and_zero_bias_equals_no_bias():
  cfg_bias = CFG.replace(qkv_bias=True, family="qwen2")
  with_bias = _make(cfg_bias)
  no_bias = _abstract(CFG)
  bias_params = _params(with_bias)
  for path, var in _params(no_bias).items():
    var.set_value(bias_params[path].get_value())
  tokens = np.asarray(_prompts([6]), np.int32)
  assert np.abs(_logits(with_bias, tokens) - _logits(no_bias, tokens)).max() > 1e-2
  for path, var in bias_params.items():
    if path[-1].endswith("_bias"):
      var.set_value(jnp.zeros_like(var.get_value()))
  np.testing.assert_allclose(_logits(with_bias, tokens), _logits(no_bias, tokens), atol=1e-5)


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_gqa_equals_mha_with_repeated_kv_weights(qkv_bias):
  """Query head n must read kv head n // E; an MHA copy with repeated k/v heads checks it."""
  family = "qwen2" if qkv_bias else "llama"
  gqa = _make(CFG.replace(qkv_bias=qkv_bias, family=family))
  E = CFG.num_heads // CFG.num_kv_heads
  mha = _abstract(CFG.replace(num_kv_heads=CFG.num_heads, qkv_bias=qkv_bias, family=family))
  gqa_params = _params(gqa)
  for path, var in _params(mha).items():
    value = gqa_params[path].get_value()
    if path[-1] in ("k", "v"):
      value = jnp.repeat(value, E, axis=1)
    elif path[-1] in ("k_bias", "v_bias"):
      value = jnp.repeat(value, E, axis=0)
    var.set_value(value)
  tokens, mask = _left_pad(_prompts([4, 7]))
  out_gqa = _logits(gqa, tokens, mask)
  out_mha = _logits(mha, tokens, mask)
  real = mask.astype(bool)
  np.testing.assert_allclose(out_gqa[real], out_mha[real], atol=2e-5, rtol=1e-5)
  # Tiling instead of repeating pairs the heads wrongly and must change the output.
  for path, var in _params(mha).items():
    if path[-1] in ("k", "v"):
      var.set_value(jnp.tile(gqa_params[path].get_value(), (1, E, 1)))
  out_tiled = _logits(mha, tokens, mask)
  assert np.abs(out_tiled[real] - out_gqa[real]).max() > 1e-2


def test_rope_matches_numpy_and_preserves_norms():
  x = np.random.default_rng(3).standard_normal((2, 5, 3, 8)).astype(np.float32)
  pos = np.array([[0, 0, 1, 2, 3], [0, 1, 2, 3, 4]])
  out = np.asarray(apply_rope(jnp.asarray(x), jnp.asarray(pos), CFG))
  for b in range(2):
    ref = _np_rope(x[b], pos[b].astype(float), 500.0 ** (-np.arange(0, 8, 2) / 8))
    np.testing.assert_allclose(out[b], ref, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)
  np.testing.assert_array_equal(out[:, :1], x[:, :1])  # position 0 is the identity


@pytest.mark.parametrize("theta,head_dim", [(500.0, 8), (1e6, 128)])
def test_default_rope_inv_freq_is_unchanged(theta, head_dim):
  # Bit for bit the expression apply_rope used before RoPE scaling existed, both eagerly and
  # under jit (XLA folds the constant expression itself, which can differ from eager by an ulp).
  cfg = CFG.replace(rope_theta=theta, head_dim=head_dim)
  before = lambda: 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))
  np.testing.assert_array_equal(np.asarray(rope_inv_freq(cfg)), np.asarray(before()))
  np.testing.assert_array_equal(
    np.asarray(jax.jit(lambda: rope_inv_freq(cfg))()), np.asarray(jax.jit(before)())
  )


@pytest.mark.parametrize(
  "cfg",
  [CFG.replace(**LLAMA3), PRESETS["llama3.1-8b"]],
  ids=["tiny", "llama3.1-8b"],
)
def test_llama3_rope_inv_freq_matches_numpy(cfg):
  ours = rope_inv_freq(cfg)
  assert ours.dtype == jnp.float32 and ours.shape == (cfg.head_dim // 2,)
  ref = _np_inv_freq(cfg)
  np.testing.assert_allclose(np.asarray(ours), ref, rtol=2e-6)
  np.testing.assert_allclose(np.asarray(jax.jit(lambda: rope_inv_freq(cfg))()), ref, rtol=2e-6)
  # All three bands occur, so the test covers each branch.
  base = cfg.rope_theta ** (-np.arange(0, cfg.head_dim, 2) / cfg.head_dim)
  ratio = ref / base
  factor = cfg.rope_scaling_factor
  assert (ratio == 1).any() and np.isclose(ratio, 1 / factor).any()
  assert ((ratio > 1 / factor + 1e-6) & (ratio < 1 - 1e-6)).any()
  # With factor 1 the scaling is the identity.
  np.testing.assert_allclose(
    np.asarray(rope_inv_freq(cfg.replace(rope_scaling_factor=1.0))), base, rtol=2e-6
  )


@pytest.mark.parametrize(
  "overrides,message",
  [
    ({"rope_scaling_type": "yarn"}, "rope_scaling_type='yarn'"),
    ({"rope_scaling_factor": 8.0}, "rope_scaling_factor=8.0 has no effect"),
    ({"rope_original_max_seq_len": 16}, "rope_original_max_seq_len=16 has no effect"),
    ({**LLAMA3, "rope_scaling_factor": 0.5}, "rope_scaling_factor=0.5 must be >= 1"),
    ({**LLAMA3, "rope_low_freq_factor": 4.0}, "0 < low < high"),
    ({**LLAMA3, "rope_original_max_seq_len": 0}, "rope_original_max_seq_len=0 must be positive"),
  ],
)
def test_rope_scaling_config_errors(overrides, message):
  with pytest.raises(ValueError, match=message):
    CFG.replace(**overrides)


def test_llama3_8b_preset_shape():
  cfg = PRESETS["llama3.1-8b"]
  assert count_params(_abstract(cfg)) == 8_030_261_248  # Llama 3.1 8B's published count


def test_hf_round_trip_keeps_run_choices_like_remat(tmp_path):
  from jax_rlvr.models import load_hf_checkpoint, save_hf_checkpoint

  policy = Policy(PRESETS["tiny"].replace(vocab_size=17), rngs=nnx.Rngs(0))
  save_hf_checkpoint(policy, str(tmp_path))
  loaded = load_hf_checkpoint(str(tmp_path), "float32", remat=True)
  assert loaded.cfg.remat and not policy.cfg.remat
  tokens = jnp.arange(6, dtype=jnp.int32)[None] % 17
  assert_f32_close(loaded(tokens), policy(tokens))
