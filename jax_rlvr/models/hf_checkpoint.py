"""Import and export of Hugging Face `LlamaForCausalLM` / `Qwen2ForCausalLM` checkpoints.

A checkpoint directory holds `config.json` and either `model.safetensors` or shards listed in
`model.safetensors.index.json`. Weights are read one tensor at a time through safetensors' NumPy
interface (memory-mapped files, no torch), converted and placed on the device, so besides the
model only one tensor (in its file and its converted layout) is on the host at a time. Given a
mesh, each parameter is born sharded instead (`jax.make_array_from_callback`): every addressable
device's block is read from the file on its own (`get_slice`), so a host holds only the blocks
of one tensor that its devices need. The model itself is built with `nnx.eval_shape`, so no random
initialisation of a large model ever runs.

Layout conversion (HF `nn.Linear` weights are [out, in]; ours are [in, ...out]):
  model.embed_tokens.weight              [V, D]    -> embed [V, D]
  model.layers.i.self_attn.q_proj.weight [A*H, D]  -> blocks[i].attn.q [D, A, H]
  model.layers.i.self_attn.k_proj.weight [K*H, D]  -> blocks[i].attn.k [D, K, H]  (v alike)
  model.layers.i.self_attn.o_proj.weight [D, A*H]  -> blocks[i].attn.o [A, H, D]
  model.layers.i.self_attn.q_proj.bias   [A*H]     -> blocks[i].attn.q_bias [A, H]  (k, v alike)
  model.layers.i.input_layernorm.weight  [D]       -> blocks[i].attn_norm.scale
  model.layers.i.post_attention_layernorm.weight   -> blocks[i].mlp_norm.scale
  model.layers.i.mlp.{gate,up}_proj.weight [F, D]  -> blocks[i].mlp.{gate,up} [D, F]
  model.layers.i.mlp.down_proj.weight    [D, F]    -> blocks[i].mlp.down [F, D]
  model.norm.weight                      [D]       -> final_norm.scale
  lm_head.weight                         [V, D]    -> lm_head [D, V]  (only when untied)
Rotary embeddings use the rotate-half layout on both sides, so q/k need no permutation.

bfloat16: NumPy has no bfloat16 of its own; `ml_dtypes` (a jax dependency) registers one, and
safetensors' NumPy reader and writer find it by name only once it is registered (older
safetensors releases otherwise fail with "data type 'bfloat16' not understood"). This module
imports `ml_dtypes` explicitly for that reason.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from flax import nnx
from safetensors import safe_open
from safetensors.numpy import save_file

from jax_rlvr import sharding
from jax_rlvr.models.config import ModelConfig
from jax_rlvr.models.policy import Policy

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"

_ARCHITECTURES = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
_FAMILY_TO_HF = {
  "llama": ("LlamaForCausalLM", "llama"),
  "qwen2": ("Qwen2ForCausalLM", "qwen2"),
}
# NumPy dtypes of the parameter dtypes ModelConfig allows (ml_dtypes supplies bfloat16).
_NP_DTYPES = {
  "float32": np.dtype(np.float32),
  "bfloat16": np.dtype(ml_dtypes.bfloat16),
  "float16": np.dtype(np.float16),
}
_REQUIRED_FIELDS = (
  "vocab_size",
  "hidden_size",
  "intermediate_size",
  "num_hidden_layers",
  "num_attention_heads",
)
# Llama 3.1 RoPE scaling: (HF rope_parameters / rope_scaling key, ModelConfig field).
_LLAMA3_FIELDS = (
  ("factor", "rope_scaling_factor"),
  ("low_freq_factor", "rope_low_freq_factor"),
  ("high_freq_factor", "rope_high_freq_factor"),
  ("original_max_position_embeddings", "rope_original_max_seq_len"),
)
# Tensors some checkpoints carry that hold nothing the model needs.
_IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)


def _dtype_name(dtype) -> str:
  return jnp.dtype(dtype).name


def _rope_fields(hf: dict[str, Any]) -> dict[str, Any]:
  """ModelConfig's RoPE fields from transformers 5 `rope_parameters` or 4.x `rope_scaling`.

  4.x keeps rope_theta at the top level; a "type" key is the pre-4.45 spelling of "rope_type".
  """
  params, scaling = hf.get("rope_parameters"), hf.get("rope_scaling")
  field = "rope_parameters" if params else "rope_scaling"
  rope = params or scaling or {}
  if not isinstance(rope, dict):
    raise ValueError(f"config.json field {field}={rope!r} must be a dict or null.")
  if any(isinstance(v, dict) for v in rope.values()):
    raise ValueError(
      f"config.json field {field} has per-layer-type RoPE parameters ({sorted(rope)}); only one "
      "global RoPE is supported."
    )
  if params and isinstance(scaling, dict) and scaling:
    # transformers 5 reads rope_scaling first, this module rope_parameters: they must agree.
    clash = sorted(k for k in params.keys() & scaling.keys() if params[k] != scaling[k])
    if clash:
      raise ValueError(f"config.json fields rope_parameters and rope_scaling disagree on {clash}.")
  rope_type = rope.get("rope_type", rope.get("type", "default"))
  if rope_type not in ("default", "llama3"):
    raise ValueError(
      f"config.json field {field}.rope_type={rope_type!r} is not supported; only 'default' "
      "(plain RoPE) and 'llama3' (Llama 3.1 scaling) are implemented."
    )
  if rope.get("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0)) != 1.0:
    raise ValueError("config.json field partial_rotary_factor != 1.0 is not supported.")
  fields = {
    "rope_theta": float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
    "rope_scaling_type": rope_type,
  }
  if rope_type == "llama3":
    missing = [k for k, _ in _LLAMA3_FIELDS if rope.get(k) is None]
    if missing:
      raise ValueError(
        f"config.json field {field} lacks {missing}, required by rope_type 'llama3'."
      )
    for hf_name, name in _LLAMA3_FIELDS:
      value = rope[hf_name]
      cast = int if name == "rope_original_max_seq_len" else float
      if isinstance(value, bool) or not isinstance(value, int | float) or cast(value) != value:
        raise ValueError(
          f"config.json field {field}.{hf_name}={value!r} must be a {cast.__name__}."
        )
      fields[name] = cast(value)
  return fields


def model_config_from_hf(hf: dict[str, Any], **overrides) -> ModelConfig:
  """Builds a ModelConfig from a parsed HF `config.json`; `overrides` replace fields after.

  Raises ValueError naming the field when the checkpoint uses a feature Policy lacks
  (another architecture, RoPE scaling other than Llama 3.1's, sliding-window attention, MLP or
  output-projection bias, an activation other than SiLU).
  """
  archs = hf.get("architectures") or []
  known = [a for a in archs if a in _ARCHITECTURES]
  if known:
    family = _ARCHITECTURES[known[0]]
  elif not archs and hf.get("model_type") in ("llama", "qwen2"):
    family = hf["model_type"]
  else:
    raise ValueError(
      f"config.json field architectures={archs!r} (model_type={hf.get('model_type')!r}) is not "
      f"supported; expected one of {sorted(_ARCHITECTURES)}."
    )
  missing = [k for k in _REQUIRED_FIELDS if hf.get(k) is None]
  if missing:
    raise ValueError(f"config.json lacks the required fields {missing}.")
  if hf.get("hidden_act", "silu") != "silu":
    raise ValueError(
      f"config.json field hidden_act={hf['hidden_act']!r}; only 'silu' is supported."
    )
  if hf.get("mlp_bias", False):
    raise ValueError("config.json field mlp_bias=True is not supported (Policy's MLP has no bias).")
  if family == "llama":
    if hf.get("attention_bias", False):
      raise ValueError(
        "config.json field attention_bias=True is not supported for Llama: it also adds an o_proj "
        "bias, which Policy does not have."
      )
    qkv_bias = False
  else:
    qkv_bias = True  # Qwen2 always has q/k/v biases and no o_proj bias.
    layer_types = hf.get("layer_types") or []
    if any(t != "full_attention" for t in layer_types):
      raise ValueError(
        f"config.json field layer_types={layer_types!r}: sliding-window layers are not supported."
      )
    if hf.get("use_sliding_window", False) and hf.get("sliding_window") is not None:
      if hf.get("max_window_layers", 28) < hf["num_hidden_layers"]:
        raise ValueError(
          "config.json field use_sliding_window=True: sliding-window attention is not supported."
        )
  num_heads = hf["num_attention_heads"]
  cfg = ModelConfig(
    vocab_size=hf["vocab_size"],
    embed_dim=hf["hidden_size"],
    mlp_dim=hf["intermediate_size"],
    num_layers=hf["num_hidden_layers"],
    num_heads=num_heads,
    num_kv_heads=hf.get("num_key_value_heads") or num_heads,
    head_dim=hf.get("head_dim") or hf["hidden_size"] // num_heads,
    **_rope_fields(hf),
    norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
    qkv_bias=qkv_bias,
    tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
    max_seq_len=hf.get("max_position_embeddings", 2048),
    family=family,
  )
  return cfg.replace(**overrides)


def hf_config_from_model_config(cfg: ModelConfig) -> dict[str, Any]:
  """The `config.json` dict transformers needs to rebuild `cfg` as an HF model.

  RoPE is written both as transformers 5 `rope_parameters` and as the 4.x `rope_theta` plus
  `rope_scaling` (null without scaling); the storage dtype both as `dtype` (5.x) and
  `torch_dtype` (4.x).
  """
  arch, model_type = _FAMILY_TO_HF[cfg.family]
  rope_scaling = None
  if cfg.rope_scaling_type == "llama3":
    rope_scaling = {"rope_type": "llama3"}
    rope_scaling.update({hf_name: getattr(cfg, name) for hf_name, name in _LLAMA3_FIELDS})
  rope_parameters = {**(rope_scaling or {"rope_type": "default"}), "rope_theta": cfg.rope_theta}
  hf = {
    "architectures": [arch],
    "model_type": model_type,
    "vocab_size": cfg.vocab_size,
    "hidden_size": cfg.embed_dim,
    "intermediate_size": cfg.mlp_dim,
    "num_hidden_layers": cfg.num_layers,
    "num_attention_heads": cfg.num_heads,
    "num_key_value_heads": cfg.num_kv_heads,
    "head_dim": cfg.head_dim,
    "hidden_act": "silu",
    "max_position_embeddings": cfg.max_seq_len,
    "rms_norm_eps": cfg.norm_eps,
    "rope_theta": cfg.rope_theta,
    "rope_parameters": rope_parameters,
    "rope_scaling": rope_scaling,
    "tie_word_embeddings": cfg.tie_embeddings,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
    "use_cache": True,
    "dtype": cfg.param_dtype,
    "torch_dtype": cfg.param_dtype,
  }
  if cfg.family == "llama":
    if cfg.qkv_bias:
      raise ValueError(
        "qkv_bias=True with family='llama' has no HF equivalent (Llama's attention_bias also adds "
        "an o_proj bias); use family='qwen2'."
      )
    hf.update(attention_bias=False, mlp_bias=False)
  else:
    if not cfg.qkv_bias:
      raise ValueError("family='qwen2' requires qkv_bias=True (HF Qwen2 always has q/k/v biases).")
    hf.update(use_sliding_window=False, sliding_window=None, max_window_layers=cfg.num_layers)
  return hf


@dataclasses.dataclass(frozen=True)
class _TensorSpec:
  """One parameter: its attribute path in Policy, HF name and shape, and whether [out, in]."""

  path: tuple[str | int, ...]
  hf_name: str
  hf_shape: tuple[int, ...]
  shape: tuple[int, ...]
  linear: bool

  def read(self, f, index: tuple[slice, ...], dtype: np.dtype) -> np.ndarray:
    """The block `index` (slices of our layout) of this tensor, read from the open safetensors
    file `f` as little as possible, converted in one host copy (transpose and cast together).

    Each file dimension is one or more consecutive dimensions of ours (in reverse order for an
    [out, in] linear weight), e.g. q_proj's A·H rows are our (A, H). Where only the first of them
    is sliced, the block is a contiguous range of the file's dimension and only it is read;
    otherwise that file dimension is read whole and sliced after the reshape.
    """
    file_dims = self.hf_shape[::-1] if self.linear else self.hf_shape
    reads, reshape, after = [], [], []
    dim = 0
    for size in file_dims:
      group = [dim]
      while math.prod(self.shape[d] for d in group) < size:
        group.append(group[-1] + 1)
      dim = group[-1] + 1
      starts_stops = [index[d].indices(self.shape[d]) for d in group]
      inner = math.prod(self.shape[d] for d in group[1:])
      rest_whole = all(
        (start, stop, step) == (0, self.shape[d], 1)
        for d, (start, stop, step) in zip(group[1:], starts_stops[1:], strict=True)
      )
      start, stop, step = starts_stops[0]
      if rest_whole and step == 1:
        reads.append(slice(start * inner, stop * inner))
        reshape += [stop - start] + [self.shape[d] for d in group[1:]]
        after += [slice(None)] * len(group)
      else:
        reads.append(slice(None))
        reshape += [self.shape[d] for d in group]
        after += [index[d] for d in group]
    x = f.get_slice(self.hf_name)[tuple(reads[::-1] if self.linear else reads)]
    x = x.T if self.linear else x
    return np.ascontiguousarray(x.reshape(reshape)[tuple(after)], dtype=dtype)

  def to_hf(self, x: np.ndarray) -> np.ndarray:
    if self.linear:
      return np.ascontiguousarray(x.reshape(self.hf_shape[::-1]).T)
    return x.reshape(self.hf_shape)


def _tensor_specs(cfg: ModelConfig) -> list[_TensorSpec]:
  D, F, V = cfg.embed_dim, cfg.mlp_dim, cfg.vocab_size
  A, K, H = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
  specs = [_TensorSpec(("embed",), "model.embed_tokens.weight", (V, D), (V, D), False)]
  for i in range(cfg.num_layers):
    hf, ours = f"model.layers.{i}.", ("blocks", i)
    attn = [
      ("q", "q_proj", (A * H, D), (D, A, H)),
      ("k", "k_proj", (K * H, D), (D, K, H)),
      ("v", "v_proj", (K * H, D), (D, K, H)),
      ("o", "o_proj", (D, A * H), (A, H, D)),
    ]
    for name, hf_name, hf_shape, shape in attn:
      specs.append(
        _TensorSpec((*ours, "attn", name), f"{hf}self_attn.{hf_name}.weight", hf_shape, shape, True)
      )
      if cfg.qkv_bias and name != "o":
        specs.append(
          _TensorSpec(
            (*ours, "attn", f"{name}_bias"),
            f"{hf}self_attn.{hf_name}.bias",
            (hf_shape[0],),
            shape[1:],
            False,
          )
        )
    specs += [
      _TensorSpec((*ours, "attn_norm", "scale"), f"{hf}input_layernorm.weight", (D,), (D,), False),
      _TensorSpec(
        (*ours, "mlp_norm", "scale"), f"{hf}post_attention_layernorm.weight", (D,), (D,), False
      ),
      _TensorSpec((*ours, "mlp", "gate"), f"{hf}mlp.gate_proj.weight", (F, D), (D, F), True),
      _TensorSpec((*ours, "mlp", "up"), f"{hf}mlp.up_proj.weight", (F, D), (D, F), True),
      _TensorSpec((*ours, "mlp", "down"), f"{hf}mlp.down_proj.weight", (D, F), (F, D), True),
    ]
  specs.append(_TensorSpec(("final_norm", "scale"), "model.norm.weight", (D,), (D,), False))
  if not cfg.tie_embeddings:
    specs.append(_TensorSpec(("lm_head",), "lm_head.weight", (V, D), (D, V), True))
  return specs


def _variable(model: nnx.Module, path: Sequence[str | int]) -> nnx.Variable:
  node = model
  for key in path:
    node = node[key] if isinstance(key, int) else getattr(node, key)
  return node


def _weight_files(path: str) -> dict[str, str]:
  """Maps every tensor name to the safetensors file holding it."""
  index_path = os.path.join(path, INDEX_FILE)
  if os.path.exists(index_path):
    with open(index_path) as f:
      weight_map = json.load(f)["weight_map"]
    absent = sorted(
      {file for file in weight_map.values() if not os.path.exists(os.path.join(path, file))}
    )
    if absent:
      raise FileNotFoundError(f"{INDEX_FILE} in {path!r} lists missing shard files {absent}.")
    return {name: os.path.join(path, file) for name, file in weight_map.items()}
  single = os.path.join(path, WEIGHTS_FILE)
  if os.path.exists(single):
    with safe_open(single, framework="np") as f:
      return {name: single for name in f.keys()}
  raise FileNotFoundError(
    f"No {WEIGHTS_FILE} or {INDEX_FILE} in {path!r} (only safetensors checkpoints are supported)."
  )


def load_hf_checkpoint(
  path: str, dtype=jnp.float32, *, param_dtype=None, mesh=None, **config_overrides
) -> Policy:
  """Loads a Hugging Face Llama / Qwen2 checkpoint directory into a Policy.

  Args:
    path: directory with config.json and model.safetensors (or sharded safetensors + index).
    dtype: compute dtype (logits are float32 regardless).
    param_dtype: storage dtype of the parameters; defaults to `dtype`. The file's own dtype
      (e.g. bfloat16) is converted to it.
    mesh: if given, every parameter is born sharded over it by its logical axis names
      (`sharding.state_shardings`), each device's block read from the file on its own; else
      parameters are placed whole on the default device.
    **config_overrides: ModelConfig fields that are run choices, not checkpoint facts (remat,
      attention).

  Raises:
    ValueError naming the config field for unsupported models, or the tensor for a missing,
    unexpected or wrongly shaped weight; FileNotFoundError when files are missing.
  """
  config_path = os.path.join(path, CONFIG_FILE)
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"No {CONFIG_FILE} in {path!r}.")
  with open(config_path) as f:
    hf = json.load(f)
  param_dtype = dtype if param_dtype is None else param_dtype
  cfg = model_config_from_hf(
    hf, dtype=_dtype_name(dtype), param_dtype=_dtype_name(param_dtype), **config_overrides
  )
  specs = _tensor_specs(cfg)
  files = _weight_files(path)

  expected = {s.hf_name for s in specs}
  missing = [s.hf_name for s in specs if s.hf_name not in files]
  if missing:
    raise ValueError(f"Checkpoint {path!r} lacks tensors {missing[:5]} ({len(missing)} missing).")
  unexpected = sorted(
    name
    for name in files
    if name not in expected
    and not name.endswith(_IGNORED_SUFFIXES)
    and not (cfg.tie_embeddings and name == "lm_head.weight")
  )
  if unexpected:
    raise ValueError(
      f"Checkpoint {path!r} has tensors Policy has no place for: {unexpected[:5]} "
      f"({len(unexpected)} in all); the config.json does not describe these weights."
    )

  model = nnx.eval_shape(lambda: Policy(cfg, rngs=nnx.Rngs(0)))
  abstract = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
  mismatch = {(p, v.get_value().shape) for p, v in abstract.items()} ^ {
    (s.path, s.shape) for s in specs
  }
  if mismatch:
    # Only reachable if Policy's parameters change without this module following.
    raise RuntimeError(
      f"Policy parameters and the HF layout disagree on {sorted(map(str, mismatch))}."
    )
  np_dtype = _NP_DTYPES[cfg.param_dtype]
  if mesh is not None:
    shardings = dict(nnx.to_flat_state(sharding.state_shardings(nnx.state(model, nnx.Param), mesh)))
  by_file: dict[str, list[_TensorSpec]] = {}
  for spec in specs:
    by_file.setdefault(files[spec.hf_name], []).append(spec)
  for file, file_specs in by_file.items():
    with safe_open(file, framework="np") as f:
      for spec in file_specs:
        shape = tuple(f.get_slice(spec.hf_name).get_shape())
        if shape != spec.hf_shape:
          raise ValueError(
            f"Tensor {spec.hf_name} in {os.path.basename(file)} has shape {shape}; config.json "
            f"implies {spec.hf_shape}."
          )
        if mesh is None:
          whole = tuple(slice(None) for _ in spec.shape)
          value = jax.device_put(spec.read(f, whole, np_dtype))
        else:
          value = _sharded(f, spec, shardings[spec.path], np_dtype)
        _variable(model, spec.path).set_value(value)
  return model


def _sharded(f, spec: _TensorSpec, sharding_, dtype: np.dtype) -> jax.Array:
  """One parameter as a global array with `sharding_`, each distinct block read once (devices
  that replicate a block share the read)."""
  blocks = {}

  def block(index):
    key = tuple(s.indices(n) for s, n in zip(index, spec.shape, strict=True))
    if key not in blocks:
      blocks[key] = spec.read(f, index, dtype)
    return blocks[key]

  return jax.make_array_from_callback(spec.shape, sharding_, block)


def save_hf_checkpoint(
  model: Policy,
  path: str,
  *,
  max_shard_bytes: int = 5 * 2**30,
  extra_config: dict[str, Any] | None = None,
) -> None:
  """Writes `model` as an HF checkpoint that `AutoModelForCausalLM.from_pretrained` loads.

  Tensors are stored in the parameter dtype. If they exceed `max_shard_bytes` in all, they are
  split into `model-0000i-of-0000n.safetensors` shards (a tensor larger than the limit gets a
  shard of its own) plus `model.safetensors.index.json`; only one shard's tensors are on the host
  at a time. Earlier `model*.safetensors` files and index in `path` are removed, so a stale shard
  cannot shadow the new weights. `extra_config` is merged into config.json (e.g. the source
  checkpoint's `bos_token_id` / `eos_token_id`). Parameters must be fully addressable (one
  process).
  """
  cfg = model.cfg
  hf = hf_config_from_model_config(cfg)
  hf.update(extra_config or {})
  specs = _tensor_specs(cfg)
  itemsize = _NP_DTYPES[cfg.param_dtype].itemsize
  shards: list[list[_TensorSpec]] = [[]]
  shard_bytes = 0
  for spec in specs:
    size = math.prod(spec.hf_shape) * itemsize
    if shards[-1] and shard_bytes + size > max_shard_bytes:
      shards.append([])
      shard_bytes = 0
    shards[-1].append(spec)
    shard_bytes += size

  os.makedirs(path, exist_ok=True)
  for name in os.listdir(path):
    if name == INDEX_FILE or (name.startswith("model") and name.endswith(".safetensors")):
      os.remove(os.path.join(path, name))
  if len(shards) == 1:
    names = [WEIGHTS_FILE]
  else:
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
  weight_map = {}
  for name, shard in zip(names, shards, strict=True):
    tensors = {}
    for spec in shard:
      value = np.asarray(jax.device_get(_variable(model, spec.path).get_value()))
      tensors[spec.hf_name] = spec.to_hf(value)
      weight_map[spec.hf_name] = name
    save_file(tensors, os.path.join(path, name), metadata={"format": "pt"})
    del tensors
  if len(shards) > 1:
    total = sum(math.prod(s.hf_shape) for s in specs) * itemsize
    with open(os.path.join(path, INDEX_FILE), "w") as f:
      json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
  with open(os.path.join(path, CONFIG_FILE), "w") as f:
    json.dump(hf, f, indent=2, sort_keys=True)
