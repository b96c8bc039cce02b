"""Decoder configuration shared by the Llama and Qwen2 families, with named presets."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
_ROPE_SCALING_TYPES = ("default", "llama3")
ATTENTION_IMPLEMENTATIONS = ("xla", "cudnn", "chunked")
_LLAMA3_FIELDS = (
  "rope_scaling_factor",
  "rope_low_freq_factor",
  "rope_high_freq_factor",
  "rope_original_max_seq_len",
)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Hyper-parameters of a Llama / Qwen2 style decoder.

  Attributes mirror the Hugging Face config fields (names in brackets):
    vocab_size [vocab_size], embed_dim [hidden_size], mlp_dim [intermediate_size],
    num_layers [num_hidden_layers], num_heads [num_attention_heads],
    num_kv_heads [num_key_value_heads], head_dim [head_dim or hidden_size // heads],
    rope_theta [rope_theta], norm_eps [rms_norm_eps], qkv_bias (True for Qwen2),
    tie_embeddings [tie_word_embeddings], max_seq_len [max_position_embeddings].
  RoPE scaling [rope_parameters, 4.x: rope_scaling]: rope_scaling_type [rope_type] is 'default'
  (plain RoPE) or 'llama3' (Llama 3.1 frequency scaling), which uses rope_scaling_factor [factor],
  rope_low_freq_factor [low_freq_factor], rope_high_freq_factor [high_freq_factor] and
  rope_original_max_seq_len [original_max_position_embeddings]; see policy.rope_inv_freq. Their
  defaults are Llama 3.1's except factor 1, which makes the scaling the identity; with 'default'
  they must keep these defaults (so that a scaling parameter is never silently ignored).
  `param_dtype` is the storage dtype, `dtype` the compute dtype; logits are always float32.
  `remat` rematerialises each block in the backward pass (saves activation memory).
  `attention` is the kernel of the uncached (training and scoring) forward pass: 'xla'
  (jax.nn.dot_product_attention's XLA kernel, [B, A, T, T] scores in memory), 'cudnn' (its
  cuDNN flash kernel; GPUs only) or 'chunked' (the XLA kernel on blocks of
  `attention_chunk_size` queries, rematerialised: [B, A, chunk, T] scores at a time, any
  backend). Cached prefill and decoding always use 'xla'. Run choices, like `remat`: they do not
  change the parameters.
  """

  vocab_size: int
  embed_dim: int
  mlp_dim: int
  num_layers: int
  num_heads: int
  num_kv_heads: int
  head_dim: int
  rope_theta: float = 10000.0
  rope_scaling_type: str = "default"
  rope_scaling_factor: float = 1.0
  rope_low_freq_factor: float = 1.0
  rope_high_freq_factor: float = 4.0
  rope_original_max_seq_len: int = 8192
  norm_eps: float = 1e-6
  qkv_bias: bool = False
  tie_embeddings: bool = False
  max_seq_len: int = 2048
  family: str = "llama"
  param_dtype: str = "float32"
  dtype: str = "float32"
  remat: bool = False
  attention: str = "xla"
  attention_chunk_size: int = 512

  def __post_init__(self):
    if self.num_heads % self.num_kv_heads:
      raise ValueError(
        f"num_heads={self.num_heads} must be a multiple of num_kv_heads={self.num_kv_heads}."
      )
    if self.head_dim % 2:
      raise ValueError(f"head_dim={self.head_dim} must be even for rotary embeddings.")
    for field in ("param_dtype", "dtype"):
      if getattr(self, field) not in _DTYPES:
        raise ValueError(f"{field}={getattr(self, field)!r}; choose one of {sorted(_DTYPES)}.")
    if self.family not in ("llama", "qwen2"):
      raise ValueError(f"family={self.family!r}; choose 'llama' or 'qwen2'.")
    if self.attention not in ATTENTION_IMPLEMENTATIONS:
      raise ValueError(f"attention={self.attention!r}; choose one of {ATTENTION_IMPLEMENTATIONS}.")
    if self.attention_chunk_size < 1:
      raise ValueError(f"attention_chunk_size={self.attention_chunk_size} must be positive.")
    self._validate_rope_scaling()

  def _validate_rope_scaling(self):
    if self.rope_scaling_type not in _ROPE_SCALING_TYPES:
      raise ValueError(
        f"rope_scaling_type={self.rope_scaling_type!r}; choose one of {_ROPE_SCALING_TYPES}."
      )
    if self.rope_scaling_type == "default":
      for field in dataclasses.fields(self):
        if field.name in _LLAMA3_FIELDS and getattr(self, field.name) != field.default:
          raise ValueError(
            f"{field.name}={getattr(self, field.name)!r} has no effect with "
            f"rope_scaling_type='default'; set rope_scaling_type='llama3' or leave it at "
            f"{field.default!r}."
          )
      return
    if not self.rope_scaling_factor >= 1.0:
      raise ValueError(f"rope_scaling_factor={self.rope_scaling_factor!r} must be >= 1.")
    if not 0.0 < self.rope_low_freq_factor < self.rope_high_freq_factor:
      raise ValueError(
        f"rope_low_freq_factor={self.rope_low_freq_factor!r} and rope_high_freq_factor="
        f"{self.rope_high_freq_factor!r} must satisfy 0 < low < high."
      )
    if self.rope_original_max_seq_len <= 0:
      raise ValueError(
        f"rope_original_max_seq_len={self.rope_original_max_seq_len!r} must be positive."
      )

  @property
  def jnp_param_dtype(self):
    return _DTYPES[self.param_dtype]

  @property
  def jnp_dtype(self):
    return _DTYPES[self.dtype]

  def replace(self, **kwargs) -> ModelConfig:
    return dataclasses.replace(self, **kwargs)


PRESETS = {
  # ~0.4M parameters: the embedded default's policy on a character vocabulary.
  "tiny": ModelConfig(
    vocab_size=32,
    embed_dim=128,
    mlp_dim=384,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    head_dim=32,
    rope_theta=10000.0,
    norm_eps=1e-6,
    tie_embeddings=True,
    max_seq_len=128,
  ),
  # Random weights with the shape of SmolLM2-135M (Llama family), for benchmarks.
  "smollm2-135m-shape": ModelConfig(
    vocab_size=49152,
    embed_dim=576,
    mlp_dim=1536,
    num_layers=30,
    num_heads=9,
    num_kv_heads=3,
    head_dim=64,
    rope_theta=100000.0,
    norm_eps=1e-5,
    tie_embeddings=True,
    max_seq_len=8192,
  ),
  # Shapes of the paper's full-scale policies (weights come from a local HF download).
  "qwen2.5-math-1.5b": ModelConfig(
    vocab_size=151936,
    embed_dim=1536,
    mlp_dim=8960,
    num_layers=28,
    num_heads=12,
    num_kv_heads=2,
    head_dim=128,
    rope_theta=10000.0,
    norm_eps=1e-6,
    qkv_bias=True,
    tie_embeddings=True,
    max_seq_len=4096,
    family="qwen2",
  ),
  "qwen2.5-math-7b": ModelConfig(
    vocab_size=152064,
    embed_dim=3584,
    mlp_dim=18944,
    num_layers=28,
    num_heads=28,
    num_kv_heads=4,
    head_dim=128,
    rope_theta=10000.0,
    norm_eps=1e-6,
    qkv_bias=True,
    tie_embeddings=False,
    max_seq_len=4096,
    family="qwen2",
  ),
  "llama3.1-8b": ModelConfig(
    vocab_size=128256,
    embed_dim=4096,
    mlp_dim=14336,
    num_layers=32,
    num_heads=32,
    num_kv_heads=8,
    head_dim=128,
    rope_theta=500000.0,
    rope_scaling_type="llama3",
    rope_scaling_factor=8.0,
    rope_low_freq_factor=1.0,
    rope_high_freq_factor=4.0,
    rope_original_max_seq_len=8192,
    norm_eps=1e-5,
    tie_embeddings=False,
    max_seq_len=131072,
  ),
}


def get_preset(name: str, **overrides) -> ModelConfig:
  """Returns the named preset with `overrides` applied."""
  if name not in PRESETS:
    raise ValueError(f"Unknown model preset {name!r}; choose one of {sorted(PRESETS)}.")
  return PRESETS[name].replace(**overrides)
