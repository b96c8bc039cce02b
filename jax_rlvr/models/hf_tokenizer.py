"""Hugging Face `tokenizer.json` tokenizers behind the `Tokenizer` interface (models/tokenizer.py).

`load_tokenizer(path)` reads `tokenizer.json` with the `tokenizers` library (no transformers) and
finds the special tokens in, by priority: `tokenizer_config.json`, `special_tokens_map.json`,
and, for eos only, `generation_config.json`'s `eos_token_id`.

Conventions:
  * `encode` never lets the tokenizer's post-processor add special tokens; `add_bos` / `add_eos`
    are the only way they appear, as with CharTokenizer. Padding and truncation configured in
    tokenizer.json are switched off: batching belongs to the data pipeline.
  * `pad_id` falls back to `eos_id` when the tokenizer defines no pad token (Llama, Qwen base
    models). Padding is always masked, so the shared id is harmless, but a caller must cut
    sequences at the first eos by position, not by searching for `pad_id`.
  * `bos_id` is None when the tokenizer has no bos token (Qwen2); `encode(add_bos=True)` then
    raises. generation_config.json's `bos_token_id` is not used: Qwen2 lists one there that its
    tokenizer never prepends.
  * `eos_ids` holds every id that ends a generation: `eos_id` first, then the other ids of
    generation_config.json's `eos_token_id` (instruct models stop on several).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import tokenizers

TOKENIZER_FILE = "tokenizer.json"
_CONFIG_FILES = ("tokenizer_config.json", "special_tokens_map.json")
GENERATION_CONFIG_FILE = "generation_config.json"


def _read_json(path: str) -> dict[str, Any]:
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def _token_content(value) -> str | None:
  """A special token is a string or a serialised AddedToken dict with a `content` field."""
  if isinstance(value, dict):
    return value.get("content")
  return value


class HFTokenizer:
  """A `tokenizers.Tokenizer` as a `Tokenizer` (see the module docstring)."""

  def __init__(
    self,
    tokenizer: tokenizers.Tokenizer,
    *,
    eos_id: int,
    pad_id: int | None = None,
    bos_id: int | None = None,
    extra_eos_ids: Iterable[int] = (),
  ):
    self.tokenizer = tokenizer
    self.tokenizer.no_padding()
    self.tokenizer.no_truncation()
    self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    self.eos_id = eos_id
    self.pad_id = eos_id if pad_id is None else pad_id
    self.bos_id = bos_id
    self.eos_ids = tuple(dict.fromkeys([eos_id, *extra_eos_ids]))
    for name, token_id in (("eos_id", eos_id), ("pad_id", self.pad_id), ("bos_id", bos_id)):
      if token_id is not None and not 0 <= token_id < self.vocab_size:
        raise ValueError(f"{name}={token_id} is outside the vocabulary [0, {self.vocab_size}).")

  def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
    """Returns the ids of `text` [+ bos first] [+ eos last]; no other special tokens are added."""
    if add_bos and self.bos_id is None:
      raise ValueError("encode(add_bos=True), but this tokenizer has no bos token.")
    ids = self.tokenizer.encode(text, add_special_tokens=False).ids
    return ([self.bos_id] if add_bos else []) + ids + ([self.eos_id] if add_eos else [])

  def decode(self, ids: Iterable[int] | np.ndarray, *, skip_special_tokens: bool = True) -> str:
    """Returns the text of 1-D `ids` (list or array). Decoding does not stop at eos."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
      raise ValueError(f"decode expects a 1-D sequence of ids, got shape {ids.shape}.")
    return self.tokenizer.decode(ids.tolist(), skip_special_tokens=skip_special_tokens)

  def token_to_id(self, token: str) -> int | None:
    return self.tokenizer.token_to_id(token)

  def __repr__(self) -> str:
    return (
      f"HFTokenizer(vocab_size={self.vocab_size}, bos_id={self.bos_id}, eos_id={self.eos_id}, "
      f"pad_id={self.pad_id})"
    )


def load_tokenizer(path: str) -> HFTokenizer:
  """Loads the tokenizer of an HF model directory (see the module docstring for the rules).

  Raises FileNotFoundError without tokenizer.json, ValueError when no eos token is defined or a
  named special token is not in the vocabulary.
  """
  tokenizer_path = os.path.join(path, TOKENIZER_FILE)
  if not os.path.exists(tokenizer_path):
    raise FileNotFoundError(
      f"No {TOKENIZER_FILE} in {path!r}; only fast (tokenizers-library) tokenizers are supported "
      "(a SentencePiece tokenizer.model can be converted once with transformers' "
      "AutoTokenizer.from_pretrained(...).save_pretrained(...))."
    )
  tokenizer = tokenizers.Tokenizer.from_file(tokenizer_path)

  def special_id(key: str) -> int | None:
    for file in _CONFIG_FILES:
      token = _token_content(_read_json(os.path.join(path, file)).get(key))
      if token is not None:
        token_id = tokenizer.token_to_id(token)
        if token_id is None:
          raise ValueError(f"{file} field {key}={token!r} is not a token of {TOKENIZER_FILE}.")
        return token_id
    return None

  generation_eos = _read_json(os.path.join(path, GENERATION_CONFIG_FILE)).get("eos_token_id")
  if isinstance(generation_eos, int):
    generation_eos = [generation_eos]
  generation_eos = list(generation_eos or [])
  eos_id = special_id("eos_token")
  if eos_id is None:
    if not generation_eos:
      raise ValueError(
        f"No eos token in {path!r}: set eos_token in tokenizer_config.json or eos_token_id in "
        f"{GENERATION_CONFIG_FILE}."
      )
    eos_id = generation_eos[0]
  return HFTokenizer(
    tokenizer,
    eos_id=eos_id,
    pad_id=special_id("pad_token"),
    bos_id=special_id("bos_token"),
    extra_eos_ids=generation_eos,
  )
