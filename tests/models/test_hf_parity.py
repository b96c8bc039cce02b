"""Hugging Face checkpoint and tokenizer import/export.

Tests marked `hf` compare against transformers (torch CPU) and skip when it is not installed;
the others need only safetensors and tokenizers. Nothing touches the network.
"""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest
import tokenizers
from flax import nnx
from safetensors import safe_open
from safetensors.numpy import save_file
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

from jax_rlvr.models import (
  PRESETS,
  ModelConfig,
  Policy,
  load_hf_checkpoint,
  load_tokenizer,
  save_hf_checkpoint,
)
from jax_rlvr.models.hf_checkpoint import hf_config_from_model_config, model_config_from_hf

VOCAB = 97
TOL = 1e-4  # max abs logit difference allowed against transformers in float32

_forward = nnx.jit(lambda model, tokens_BT, mask_BT: model(tokens_BT, mask_BT=mask_BT))


def _logits(model, tokens_BT, mask_BT) -> np.ndarray:
  return np.asarray(_forward(model, jnp.asarray(tokens_BT), jnp.asarray(mask_BT)))


# Llama 3.1 RoPE scaling with a 32-token original context (transformers' rope_parameters keys), so
# that the tiny models' wavelengths fall in all three bands and the batches below run past it.
LLAMA3_ROPE = {
  "rope_type": "llama3",
  "factor": 8.0,
  "low_freq_factor": 1.0,
  "high_freq_factor": 4.0,
  "original_max_position_embeddings": 32,
}
LLAMA3_FIELDS = dict(
  rope_scaling_type="llama3",
  rope_scaling_factor=8.0,
  rope_low_freq_factor=1.0,
  rope_high_freq_factor=4.0,
  rope_original_max_seq_len=32,
)


def _left_padded_batch(lengths=(4, 9, 6)):
  """Tokens and mask [3, max(lengths)]: prompts of these real lengths, left-padded with id 0."""
  rng = np.random.default_rng(0)
  width = max(lengths)
  tokens = np.zeros((len(lengths), width), np.int32)
  mask = np.zeros((len(lengths), width), np.int32)
  for row, n in enumerate(lengths):
    tokens[row, width - n :] = rng.integers(1, VOCAB, n)
    mask[row, width - n :] = 1
  return tokens, mask


def _max_diff_on_real_tokens(a, b, mask):
  return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))[mask > 0].max())


def _tiny_policy(family: str, tied: bool, param_dtype="float32", seed=0, **overrides) -> Policy:
  cfg = ModelConfig(
    vocab_size=VOCAB,
    embed_dim=64,
    mlp_dim=96,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    head_dim=16,
    rope_theta=2500.0,
    norm_eps=1e-5,
    qkv_bias=family == "qwen2",
    tie_embeddings=tied,
    max_seq_len=128,
    family=family,
    param_dtype=param_dtype,
    dtype=param_dtype,
    **overrides,
  )
  model = nnx.eval_shape(lambda: Policy(cfg, rngs=nnx.Rngs(0)))  # every param is set below
  rng = np.random.default_rng(seed)
  for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
    shape = var.get_value().shape
    if path[-1] == "scale":
      value = 1.0 + 0.2 * rng.standard_normal(shape)
    else:
      value = 0.3 * rng.standard_normal(shape)
    var.set_value(jnp.asarray(value, cfg.jnp_param_dtype))
  return model


# --- transformers parity -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf():
  """(torch, transformers), or skip. Offline: only local directories are ever loaded."""
  os.environ["HF_HUB_OFFLINE"] = "1"
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  torch.manual_seed(0)
  return torch, transformers


def _hf_model(hf, family: str, tied: bool, rope_parameters=None):
  """A random tiny transformers model with O(1) weights (so logit differences are meaningful)."""
  torch, transformers = hf
  common = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    tie_word_embeddings=tied,
  )
  if family == "llama":
    # head_dim 24 != hidden_size / heads exercises the explicit head_dim field.
    # With llama3 scaling, the wavelengths 2π·31337^(i/12) = 6.3, 15, 35, ... fall in the kept,
    # blended and divided bands of LLAMA3_ROPE.
    rope = {"rope_type": "default", **(rope_parameters or {}), "rope_theta": 31337.0}
    config = transformers.LlamaConfig(
      rope_parameters=rope, rms_norm_eps=1e-5, head_dim=24, **common
    )
    model = transformers.LlamaForCausalLM(config)
  else:
    config = transformers.Qwen2Config(**common)
    model = transformers.Qwen2ForCausalLM(config)
  with torch.no_grad():
    for name, param in model.named_parameters():
      if name.endswith("norm.weight"):
        param.copy_(1.0 + 0.2 * torch.randn_like(param))
      elif name.endswith("bias"):
        param.copy_(0.5 * torch.randn_like(param))
      elif "embed_tokens" in name:
        param.copy_(torch.randn_like(param))
      else:
        param.copy_(torch.randn_like(param) / param.shape[1] ** 0.5)
  return model.eval()


def _hf_logits(hf, model, tokens, mask):
  torch, _ = hf
  positions = np.maximum(np.cumsum(mask, -1) - 1, 0)
  with torch.no_grad():
    out = model(
      input_ids=torch.as_tensor(tokens, dtype=torch.long),
      attention_mask=torch.as_tensor(mask, dtype=torch.long),
      position_ids=torch.as_tensor(positions, dtype=torch.long),
    )
  return out.logits.float().numpy()


@pytest.mark.hf
@pytest.mark.parametrize(
  "family,tied,shard",
  [("llama", False, False), ("llama", True, True), ("qwen2", False, True), ("qwen2", True, False)],
)
def test_load_matches_transformers_logits_on_left_padded_batch(hf, tmp_path, family, tied, shard):
  hf_model = _hf_model(hf, family, tied)
  hf_model.save_pretrained(tmp_path, max_shard_size="40KB" if shard else "1GB")
  assert os.path.exists(tmp_path / "model.safetensors.index.json") == shard

  model = load_hf_checkpoint(str(tmp_path))
  cfg = model.cfg
  assert (cfg.family, cfg.tie_embeddings, cfg.qkv_bias) == (family, tied, family == "qwen2")
  assert cfg.rope_theta == (31337.0 if family == "llama" else 10000.0)
  assert cfg.norm_eps == (1e-5 if family == "llama" else 1e-6)
  assert cfg.head_dim == (24 if family == "llama" else 16)

  tokens, mask = _left_padded_batch()
  ours = _logits(model, tokens, mask)
  theirs = _hf_logits(hf, hf_model, tokens, mask)
  assert np.abs(theirs[mask > 0]).max() > 1.0  # weights large enough for a meaningful test
  diff = _max_diff_on_real_tokens(ours, theirs, mask)
  print(f"{family} tied={tied} sharded={shard}: max |logit diff| = {diff:.2e}")
  assert diff <= TOL


@pytest.mark.hf
def test_llama3_rope_scaling_matches_transformers_past_the_original_context(hf, tmp_path):
  hf_model = _hf_model(hf, "llama", tied=False, rope_parameters=LLAMA3_ROPE)
  hf_model.save_pretrained(tmp_path)
  model = load_hf_checkpoint(str(tmp_path))
  assert {k: getattr(model.cfg, k) for k in LLAMA3_FIELDS} == LLAMA3_FIELDS

  tokens, mask = _left_padded_batch((21, 48, 37))  # 48 > original_max_position_embeddings = 32
  ours = _logits(model, tokens, mask)
  diff = _max_diff_on_real_tokens(ours, _hf_logits(hf, hf_model, tokens, mask), mask)
  print(f"llama3 rope: max |logit diff| = {diff:.2e}")
  assert diff <= TOL

  # The scaling is not a no-op here: the same weights with plain RoPE give other logits.
  config = json.loads((tmp_path / "config.json").read_text())
  config["rope_parameters"] = {"rope_type": "default", "rope_theta": 31337.0}
  (tmp_path / "config.json").write_text(json.dumps(config))
  plain = _logits(load_hf_checkpoint(str(tmp_path)), tokens, mask)
  assert _max_diff_on_real_tokens(plain, ours, mask) > 100 * TOL


@pytest.mark.hf
@pytest.mark.parametrize("family,tied", [("llama", True), ("qwen2", False)])
def test_saved_checkpoint_loads_in_transformers_with_same_logits(hf, tmp_path, family, tied):
  _, transformers = hf
  model = _tiny_policy(family, tied)
  save_hf_checkpoint(model, str(tmp_path), max_shard_bytes=60_000)
  assert os.path.exists(tmp_path / "model.safetensors.index.json")

  hf_model = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
  expected_class = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}[family]
  assert type(hf_model).__name__ == expected_class
  assert hf_model.config.tie_word_embeddings == tied
  assert hf_model.config.rope_parameters["rope_theta"] == 2500.0

  tokens, mask = _left_padded_batch()
  diff = _max_diff_on_real_tokens(
    _logits(model, tokens, mask), _hf_logits(hf, hf_model, tokens, mask), mask
  )
  print(f"round trip {family} tied={tied}: max |logit diff| = {diff:.2e}")
  assert diff <= TOL


@pytest.mark.hf
def test_llama3_rope_scaling_round_trips_through_transformers(hf, tmp_path):
  _, transformers = hf
  model = _tiny_policy("llama", tied=False, **LLAMA3_FIELDS)
  save_hf_checkpoint(model, str(tmp_path))
  hf_model = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
  assert hf_model.config.rope_parameters == {**LLAMA3_ROPE, "rope_theta": 2500.0}

  tokens, mask = _left_padded_batch((21, 48, 37))
  diff = _max_diff_on_real_tokens(
    _logits(model, tokens, mask), _hf_logits(hf, hf_model, tokens, mask), mask
  )
  print(f"round trip llama3 rope: max |logit diff| = {diff:.2e}")
  assert diff <= TOL

  # transformers' own save (rope_parameters only) loads back into the same config.
  hf_model.save_pretrained(tmp_path / "resaved")
  assert load_hf_checkpoint(str(tmp_path / "resaved")).cfg == model.cfg


@pytest.mark.hf
def test_bfloat16_checkpoint_loads_as_bfloat16(hf, tmp_path):
  torch, transformers = hf
  hf_model = _hf_model(hf, "qwen2", tied=False).to(torch.bfloat16)
  hf_model.save_pretrained(tmp_path)
  with safe_open(str(tmp_path / "model.safetensors"), framework="np") as f:
    assert f.get_slice("model.norm.weight").get_dtype() == "BF16"

  model16 = load_hf_checkpoint(str(tmp_path), dtype=jnp.bfloat16)
  model32 = load_hf_checkpoint(str(tmp_path))
  params16 = nnx.to_flat_state(nnx.state(model16, nnx.Param))
  assert all(v.get_value().dtype == jnp.bfloat16 for _, v in params16)
  # bfloat16 -> float32 is exact, so the float32 load holds the very same numbers.
  q_hf = hf_model.model.layers[1].self_attn.q_proj.weight.detach().float().numpy()
  q16 = np.asarray(model16.blocks[1].attn.q.get_value(), np.float32)
  np.testing.assert_array_equal(q16, q_hf.T.reshape(64, 4, 16))
  np.testing.assert_array_equal(np.asarray(model32.blocks[1].attn.q.get_value()), q16)

  tokens, mask = _left_padded_batch()
  logits16 = _logits(model16, tokens, mask)
  logits32 = _logits(model32, tokens, mask)
  assert logits16.dtype == np.float32
  scale = np.abs(logits32[mask > 0]).max()
  assert _max_diff_on_real_tokens(logits16, logits32, mask) < 0.03 * scale

  # Saved back in bfloat16, transformers reads identical bfloat16 weights.
  save_hf_checkpoint(model16, str(tmp_path / "out"))
  reloaded = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "out"))
  assert reloaded.dtype == torch.bfloat16
  for (name, a), (_, b) in zip(
    hf_model.state_dict().items(), reloaded.state_dict().items(), strict=True
  ):
    assert torch.equal(a, b), name


@pytest.mark.hf
def test_tokenizer_matches_transformers(hf, tmp_path):
  _, transformers = hf
  _write_tokenizer(tmp_path)
  ours = load_tokenizer(str(tmp_path))
  theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
  for text in _SENTENCES + ["the quick cat sat on the log", "unseen words here"]:
    assert ours.encode(text) == theirs.encode(text, add_special_tokens=False)
  assert (ours.bos_id, ours.eos_id) == (theirs.bos_token_id, theirs.eos_token_id)
  ids = ours.encode("the cat sat", add_bos=True, add_eos=True)
  assert ours.decode(ids) == theirs.decode(ids, skip_special_tokens=True)


# --- without torch: config mapping, errors, JAX-side round trips ---------------------------------


def test_model_config_from_hf_fields():
  base = {
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": 100,
    "hidden_size": 48,
    "intermediate_size": 80,
    "num_hidden_layers": 3,
    "num_attention_heads": 6,
  }
  cfg = model_config_from_hf(base)  # transformers 4.x style, most fields absent
  assert (cfg.head_dim, cfg.num_kv_heads, cfg.rope_theta, cfg.qkv_bias) == (8, 6, 10000.0, False)
  assert not cfg.tie_embeddings and cfg.family == "llama"

  old_style = model_config_from_hf(
    {**base, "rope_theta": 1e6, "rope_scaling": None, "rms_norm_eps": 1e-5, "head_dim": 16}
  )
  assert (old_style.rope_theta, old_style.norm_eps, old_style.head_dim) == (1e6, 1e-5, 16)
  new_style = model_config_from_hf(
    {**base, "rope_parameters": {"rope_type": "default", "rope_theta": 5e5}}
  )
  assert new_style.rope_theta == 5e5

  qwen = model_config_from_hf(
    {
      **base,
      "architectures": ["Qwen2ForCausalLM"],
      "num_key_value_heads": 2,
      "tie_word_embeddings": True,
      "use_sliding_window": False,
      "sliding_window": 4096,
      "max_window_layers": 21,
    }
  )
  assert (qwen.family, qwen.qkv_bias, qwen.tie_embeddings, qwen.num_kv_heads) == (
    "qwen2",
    True,
    True,
    2,
  )
  # Our own export maps back to the same config.
  assert model_config_from_hf(hf_config_from_model_config(qwen)) == qwen


# config.json of meta-llama/Llama-3.1-8B-Instruct as published (written by transformers 4.42).
LLAMA31_8B_INSTRUCT = {
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": False,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009],
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 131072,
  "mlp_bias": False,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3",
  },
  "rope_theta": 500000.0,
  "tie_word_embeddings": False,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.42.3",
  "use_cache": True,
  "vocab_size": 128256,
}


def test_llama3_rope_scaling_config_maps_both_ways():
  cfg = model_config_from_hf(LLAMA31_8B_INSTRUCT)
  assert cfg == PRESETS["llama3.1-8b"]

  exported = hf_config_from_model_config(cfg)
  scaling = dict(LLAMA31_8B_INSTRUCT["rope_scaling"])
  assert exported["rope_scaling"] == scaling  # 4.x reads this plus rope_theta
  assert exported["rope_parameters"] == {**scaling, "rope_theta": 500000.0}  # transformers 5
  assert model_config_from_hf(exported) == cfg
  # transformers 5 style alone, and the pre-4.45 "type" key.
  v5 = {k: v for k, v in exported.items() if k not in ("rope_scaling", "rope_theta")}
  assert model_config_from_hf(v5) == cfg
  old_key = {**scaling, "type": "llama3"}
  del old_key["rope_type"]
  assert model_config_from_hf({**LLAMA31_8B_INSTRUCT, "rope_scaling": old_key}) == cfg
  # Default RoPE still exports without scaling.
  plain = hf_config_from_model_config(PRESETS["tiny"])
  assert plain["rope_scaling"] is None
  assert plain["rope_parameters"] == {"rope_type": "default", "rope_theta": 10000.0}


@pytest.mark.parametrize(
  "change,field",
  [
    ({"architectures": ["MistralForCausalLM"]}, "architectures"),
    ({"rope_scaling": {"type": "linear", "factor": 8.0}}, "rope_scaling.rope_type='linear'"),
    ({"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}, "rope_scaling.rope_type"),
    ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4}}, "rope_parameters.rope_type"),
    ({"rope_parameters": {"rope_type": "longrope"}}, "rope_parameters.rope_type='longrope'"),
    (
      {"rope_scaling": {"rope_type": "llama3", "factor": 8.0}},
      r"rope_scaling lacks \['low_freq_factor', 'high_freq_factor', 'original_max_position_emb",
    ),
    (
      {"rope_parameters": {**LLAMA3_ROPE, "original_max_position_embeddings": 31.5}},
      r"rope_parameters\.original_max_position_embeddings=31\.5",
    ),
    (
      {
        "rope_parameters": {**LLAMA3_ROPE, "rope_theta": 1e4},
        "rope_scaling": {**LLAMA3_ROPE, "factor": 4.0},
      },
      r"rope_parameters and rope_scaling disagree on \['factor'\]",
    ),
    ({"attention_bias": True}, "attention_bias"),
    ({"mlp_bias": True}, "mlp_bias"),
    ({"hidden_act": "gelu"}, "hidden_act"),
    ({"intermediate_size": None}, "intermediate_size"),
    (
      {"architectures": ["Qwen2ForCausalLM"], "layer_types": ["sliding_attention"] * 2},
      "layer_types",
    ),
    (
      {
        "architectures": ["Qwen2ForCausalLM"],
        "use_sliding_window": True,
        "sliding_window": 64,
        "max_window_layers": 0,
      },
      "use_sliding_window",
    ),
  ],
)
def test_unsupported_configs_are_rejected_naming_the_field(change, field):
  base = {
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": 100,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
  }
  with pytest.raises(ValueError, match=field):
    model_config_from_hf({**base, **change})


def _rewrite(file, change):
  with safe_open(str(file), framework="np") as f:
    tensors = {name: f.get_tensor(name) for name in f.keys()}
  change(tensors)
  save_file(tensors, str(file), metadata={"format": "pt"})


def test_missing_unexpected_and_misshapen_tensors_are_named(tmp_path):
  save_hf_checkpoint(_tiny_policy("llama", tied=False), str(tmp_path))
  weights = tmp_path / "model.safetensors"

  _rewrite(weights, lambda t: t.pop("model.layers.1.mlp.up_proj.weight"))
  with pytest.raises(ValueError, match=r"model\.layers\.1\.mlp\.up_proj\.weight"):
    load_hf_checkpoint(str(tmp_path))

  _rewrite(weights, lambda t: t.update({"model.layers.1.mlp.up_proj.weight": np.zeros((64, 96))}))
  with pytest.raises(ValueError, match=r"up_proj\.weight.*\(64, 96\).*\(96, 64\)"):
    load_hf_checkpoint(str(tmp_path))

  _rewrite(
    weights,
    lambda t: t.update(
      {
        "model.layers.1.mlp.up_proj.weight": np.zeros((96, 64), np.float32),
        "model.layers.0.self_attn.o_proj.bias": np.zeros(64, np.float32),
      }
    ),
  )
  with pytest.raises(ValueError, match=r"o_proj\.bias"):
    load_hf_checkpoint(str(tmp_path))

  os.remove(weights)
  with pytest.raises(FileNotFoundError, match="model.safetensors"):
    load_hf_checkpoint(str(tmp_path))

  save_hf_checkpoint(_tiny_policy("llama", tied=False), str(tmp_path), max_shard_bytes=30_000)
  shard = sorted(tmp_path.glob("model-*.safetensors"))[1]
  os.remove(shard)
  with pytest.raises(FileNotFoundError, match=shard.name):
    load_hf_checkpoint(str(tmp_path))


@pytest.mark.parametrize("param_dtype", ["float32", "bfloat16"])
def test_save_load_round_trip_is_exact(tmp_path, param_dtype):
  model = _tiny_policy("qwen2", tied=True, param_dtype=param_dtype)
  save_hf_checkpoint(model, str(tmp_path), max_shard_bytes=30_000)
  index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
  assert len(set(index["weight_map"].values())) > 2
  assert "lm_head.weight" not in index["weight_map"]  # tied: transformers re-ties on load
  config = json.loads((tmp_path / "config.json").read_text())
  assert config["architectures"] == ["Qwen2ForCausalLM"] and config["dtype"] == param_dtype

  dtype = jnp.dtype(param_dtype)
  loaded = load_hf_checkpoint(str(tmp_path), dtype=dtype)
  assert loaded.cfg == model.cfg
  original = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
  restored = dict(nnx.to_flat_state(nnx.state(loaded, nnx.Param)))
  assert original.keys() == restored.keys()
  for path, var in original.items():
    assert restored[path].get_value().dtype == dtype, path
    np.testing.assert_array_equal(
      np.asarray(restored[path].get_value(), np.float32),
      np.asarray(var.get_value(), np.float32),
      err_msg=str(path),
    )

  # Saving again into the same directory unsharded leaves no stale shard behind.
  save_hf_checkpoint(loaded, str(tmp_path))
  assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_param_dtype_differs_from_compute_dtype(tmp_path):
  save_hf_checkpoint(_tiny_policy("llama", tied=False), str(tmp_path))
  model = load_hf_checkpoint(str(tmp_path), jnp.bfloat16, param_dtype=jnp.float32)
  assert (model.cfg.dtype, model.cfg.param_dtype) == ("bfloat16", "float32")
  assert model.embed.get_value().dtype == jnp.float32


# --- tokenizer -----------------------------------------------------------------------------------

_SENTENCES = [
  "the cat sat on the mat",
  "the dog sat on the log",
  "a cat and a dog",
  "what is 2 + 3 ? the answer is 5",
]


def _write_tokenizer(path, *, config=None, generation_config=None):
  """Writes a BPE tokenizer trained on _SENTENCES with <s>, </s>, <unk> (+ its config files)."""
  tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.Metaspace()
  tok.decoder = decoders.Metaspace()
  trainer = trainers.BpeTrainer(vocab_size=60, special_tokens=["<unk>", "<s>", "</s>"])
  tok.train_from_iterator(_SENTENCES, trainer)
  # Like Llama: the tokenizer itself would prepend <s>; load_tokenizer must not let it.
  tok.post_processor = processors.TemplateProcessing(
    single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
  )
  tok.save(str(path / "tokenizer.json"))
  if config is None:
    config = {
      "bos_token": "<s>",
      "eos_token": {"__type": "AddedToken", "content": "</s>", "special": True},
      "pad_token": None,
      "unk_token": "<unk>",
      "tokenizer_class": "PreTrainedTokenizerFast",
    }
  (path / "tokenizer_config.json").write_text(json.dumps(config))
  if generation_config is not None:
    (path / "generation_config.json").write_text(json.dumps(generation_config))
  return tok


def test_tokenizer_encode_decode_and_special_ids(tmp_path):
  raw = _write_tokenizer(tmp_path)
  tok = load_tokenizer(str(tmp_path))
  bos, eos = raw.token_to_id("<s>"), raw.token_to_id("</s>")
  assert (tok.bos_id, tok.eos_id, tok.pad_id) == (bos, eos, eos)  # no pad token: eos
  assert tok.eos_ids == (eos,)
  assert tok.vocab_size == raw.get_vocab_size()

  text = "the cat sat on the log"
  ids = tok.encode(text)
  assert bos not in ids and eos not in ids and len(ids) >= 6
  assert tok.encode(text, add_bos=True, add_eos=True) == [bos, *ids, eos]
  assert tok.decode(ids) == text
  with_special = tok.encode(text, add_bos=True, add_eos=True)
  assert tok.decode(np.asarray(with_special)) == text
  decoded = tok.decode(with_special, skip_special_tokens=False)
  assert decoded.startswith("<s>") and decoded.endswith("</s>")
  with pytest.raises(ValueError, match="1-D"):
    tok.decode([[1, 2]])


def test_tokenizer_without_bos_uses_generation_config_eos_ids(tmp_path):
  raw = _write_tokenizer(
    tmp_path,
    config={"eos_token": "</s>", "pad_token": "<unk>", "bos_token": None},
    generation_config={"bos_token_id": 1, "eos_token_id": [3, 2]},
  )
  tok = load_tokenizer(str(tmp_path))
  eos = raw.token_to_id("</s>")
  assert (tok.bos_id, tok.eos_id, tok.pad_id) == (None, eos, raw.token_to_id("<unk>"))
  assert tok.eos_ids == tuple(dict.fromkeys([eos, 3, 2]))
  with pytest.raises(ValueError, match="no bos"):
    tok.encode("the cat", add_bos=True)


def test_tokenizer_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="tokenizer.json"):
    load_tokenizer(str(tmp_path))
  _write_tokenizer(tmp_path, config={"eos_token": "<eos>"})
  with pytest.raises(ValueError, match="eos_token='<eos>'"):
    load_tokenizer(str(tmp_path))
  _write_tokenizer(tmp_path, config={})
  with pytest.raises(ValueError, match="No eos token"):
    load_tokenizer(str(tmp_path))


@pytest.mark.parametrize("mesh_shape", [(2, 2, 2), (1, 4, 2), (1, 8, 1)])
@pytest.mark.parametrize(
  "family, tied, param_dtype", [("qwen2", True, "bfloat16"), ("llama", False, "float32")]
)
def test_sharded_load_reads_blocks_and_equals_the_unsharded_load(
  tmp_path, monkeypatch, mesh_shape, family, tied, param_dtype
):
  """With a mesh, every parameter is born with its logical sharding, each device's block read
  from the file on its own (never the whole tensor for a split parameter), equal to the whole
  load."""
  from jax_rlvr import sharding
  from jax_rlvr.models import hf_checkpoint

  save_hf_checkpoint(
    _tiny_policy(family, tied=tied, param_dtype=param_dtype), str(tmp_path), max_shard_bytes=30_000
  )
  whole = load_hf_checkpoint(str(tmp_path), dtype=jnp.dtype(param_dtype))
  reads = []
  original_read = hf_checkpoint._TensorSpec.read

  def recording_read(spec, f, index, dtype):
    block = original_read(spec, f, index, dtype)
    reads.append((spec.path, block.shape))
    return block

  monkeypatch.setattr(hf_checkpoint._TensorSpec, "read", recording_read)
  mesh = sharding.make_mesh(mesh_shape)
  loaded = load_hf_checkpoint(str(tmp_path), dtype=jnp.dtype(param_dtype), mesh=mesh)
  expected = dict(nnx.to_flat_state(nnx.state(whole, nnx.Param)))
  got = dict(nnx.to_flat_state(nnx.state(loaded, nnx.Param)))
  targets = dict(nnx.to_flat_state(sharding.state_shardings(nnx.state(loaded, nnx.Param), mesh)))
  assert got.keys() == expected.keys()
  split = 0
  for path, var in got.items():
    value = var.get_value()
    assert value.sharding == targets[path], path
    np.testing.assert_array_equal(
      np.asarray(value, np.float32), np.asarray(expected[path].get_value(), np.float32), str(path)
    )
    shard_shape = targets[path].shard_shape(value.shape)
    assert {shape for p, shape in reads if p == path} == {shard_shape}, path
    split += shard_shape != value.shape
  assert split > len(got) // 2  # most parameters are split, so most reads are partial


def test_block_read_of_any_index_equals_slicing_the_whole_tensor(tmp_path):
  """Blocks that are a contiguous file range (first dimension of a group sliced) and blocks that
  are not (a later one sliced, e.g. head_dim) both equal the whole tensor's slice."""
  from jax_rlvr.models import hf_checkpoint

  model = _tiny_policy("qwen2", tied=True)
  save_hf_checkpoint(model, str(tmp_path))
  specs = {s.path: s for s in hf_checkpoint._tensor_specs(model.cfg)}
  indices = [
    (slice(8, 24), slice(1, 3), slice(None)),
    (slice(None), slice(None), slice(4, 12)),
    (slice(0, 64, 2), slice(2, 4), slice(0, 16)),
  ]
  with safe_open(str(tmp_path / "model.safetensors"), framework="np") as f:
    for path in [("blocks", 0, "attn", "q"), ("blocks", 1, "attn", "o")]:
      spec = specs[path]
      whole = spec.read(f, tuple(slice(None) for _ in spec.shape), np.float32)
      params = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
      np.testing.assert_array_equal(whole, np.asarray(params[path].get_value()))
      for index in indices:
        index = index if path[-1] == "q" else (index[1], index[2], index[0])
        np.testing.assert_array_equal(spec.read(f, index, np.float32), whole[index], str(index))
