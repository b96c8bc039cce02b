"""`Tokenizer`: the interface the data pipeline, sampler and train loop use, whatever the tokenizer.

Two classes implement it: `CharTokenizer` (synthetic tasks, char_tokenizer.py) and `HFTokenizer`
(a Hugging Face tokenizer.json, hf_tokenizer.py). Code that takes a tokenizer relies only on
these members, never on probing which class it holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Tokenizer(Protocol):
  """Text <-> ids.

  vocab_size: ids are in [0, vocab_size).
  pad_id: written in padding (always masked; it may equal eos_id).
  bos_id: prepended by encode(add_bos=True); None when the tokenizer has no bos token.
  eos_id: appended by encode(add_eos=True).
  eos_ids: every id that ends a generation, eos_id first.
  """

  vocab_size: int
  pad_id: int
  bos_id: int | None
  eos_id: int

  @property
  def eos_ids(self) -> tuple[int, ...]: ...

  def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]: ...

  def decode(self, ids: Iterable[int] | np.ndarray, *, skip_special_tokens: bool = True) -> str: ...
