"""A character-level tokenizer for small synthetic tasks.

Ids: 0 = pad, 1 = bos, 2 = eos, then one id per alphabet character in alphabet order. It implements
`jax_rlvr.models.tokenizer.Tokenizer`, as the HF tokenizer wrapper does, so the sampler and train
loop accept either.
"""

from collections.abc import Iterable

import numpy as np

# Characters of the arithmetic task (jax_rlvr/data/tasks/arithmetic.py): digits, "+", "=", the step
# separator "," and the final-answer marker ">".
ARITHMETIC_ALPHABET = "0123456789+=,>"
# Printable ASCII (space to "~") and newline: prompts of text tasks such as reasoning-gym countdown.
PRINTABLE_ASCII_ALPHABET = "".join(chr(c) for c in range(32, 127)) + "\n"

_SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")


class CharTokenizer:
  """Maps each character of `alphabet` to one id; pad/bos/eos are ids 0/1/2."""

  def __init__(self, alphabet: str):
    if not alphabet:
      raise ValueError("CharTokenizer needs a non-empty alphabet.")
    duplicates = sorted({c for c in alphabet if alphabet.count(c) > 1})
    if duplicates:
      raise ValueError(f"Alphabet has duplicate characters: {duplicates!r}.")
    self.alphabet = alphabet
    self.pad_id = 0
    self.bos_id = 1
    self.eos_id = 2
    self._num_special = len(_SPECIAL_TOKENS)
    self._char_to_id = {c: i + self._num_special for i, c in enumerate(alphabet)}
    self.vocab_size = self._num_special + len(alphabet)

  @property
  def eos_ids(self) -> tuple[int, ...]:
    """Generation ends at eos only."""
    return (self.eos_id,)

  def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
    """Returns the ids of `text` (len(text) [+ bos] [+ eos]); raises ValueError on unknown chars."""
    ids = [self.bos_id] if add_bos else []
    for position, char in enumerate(text):
      token_id = self._char_to_id.get(char)
      if token_id is None:
        raise ValueError(
          f"Character {char!r} at position {position} of {text!r} is not in the alphabet "
          f"{self.alphabet!r}."
        )
      ids.append(token_id)
    if add_eos:
      ids.append(self.eos_id)
    return ids

  def decode(self, ids: Iterable[int] | np.ndarray, *, skip_special_tokens: bool = True) -> str:
    """Returns the text of 1-D `ids` (list or array); special ids are dropped or shown as <pad> etc.

    Decoding does not stop at eos; callers cut the sequence first. Ids outside [0, vocab_size) raise
    ValueError.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
      raise ValueError(f"decode expects a 1-D sequence of ids, got shape {ids.shape}.")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
      raise ValueError(f"decode expects integer ids, got dtype {ids.dtype}.")
    pieces = []
    for token_id in ids.tolist():
      if not 0 <= token_id < self.vocab_size:
        raise ValueError(f"Token id {token_id} is outside the vocabulary [0, {self.vocab_size}).")
      if token_id < self._num_special:
        if not skip_special_tokens:
          pieces.append(_SPECIAL_TOKENS[token_id])
      else:
        pieces.append(self.alphabet[token_id - self._num_special])
    return "".join(pieces)

  def __repr__(self) -> str:
    return f"CharTokenizer(alphabet={self.alphabet!r}, vocab_size={self.vocab_size})"


def arithmetic_tokenizer() -> CharTokenizer:
  """The tokenizer of the arithmetic task: vocab_size 17 (3 special ids + 14 characters)."""
  return CharTokenizer(ARITHMETIC_ALPHABET)


def printable_ascii_tokenizer() -> CharTokenizer:
  """A tokenizer for plain-English ASCII tasks: vocab_size 99 (3 special ids + 96 characters).

  Text with other characters (tabs, "£", LaTeX in Unicode) raises ValueError on encode.
  """
  return CharTokenizer(PRINTABLE_ASCII_ALPHABET)
