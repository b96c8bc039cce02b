"""Tests of jax_rlvr.models.char_tokenizer."""

import numpy as np
import pytest

from jax_rlvr.models import char_tokenizer


def test_arithmetic_tokenizer_layout():
  tok = char_tokenizer.arithmetic_tokenizer()
  assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
  assert tok.vocab_size == 3 + len(char_tokenizer.ARITHMETIC_ALPHABET) == 17
  ids = tok.encode(char_tokenizer.ARITHMETIC_ALPHABET)
  assert ids == list(range(3, 17))


def test_round_trip_with_special_tokens():
  tok = char_tokenizer.arithmetic_tokenizer()
  text = "23+9=32,32+7=39>39"
  ids = tok.encode(text, add_bos=True, add_eos=True)
  assert len(ids) == len(text) + 2
  assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
  assert tok.decode(ids) == text
  assert tok.decode(ids, skip_special_tokens=False) == "<bos>" + text + "<eos>"


def test_decode_accepts_arrays_and_drops_padding():
  tok = char_tokenizer.CharTokenizer("ab")
  ids = np.array([1, 3, 4, 3, 2, 0, 0], dtype=np.int32)
  assert tok.decode(ids) == "aba"
  assert tok.decode(ids.tolist()) == "aba"
  assert tok.decode(np.array([], dtype=np.int32)) == ""


def test_encode_unknown_character_names_it():
  tok = char_tokenizer.arithmetic_tokenizer()
  with pytest.raises(ValueError, match="'x'"):
    tok.encode("1+x=")


@pytest.mark.parametrize("bad_ids", [[3, 17], [-1], [[3, 4]], np.array([3.0])])
def test_decode_rejects_bad_ids(bad_ids):
  tok = char_tokenizer.arithmetic_tokenizer()
  with pytest.raises(ValueError):
    tok.decode(bad_ids)


def test_alphabet_must_be_unique_and_non_empty():
  with pytest.raises(ValueError, match="duplicate"):
    char_tokenizer.CharTokenizer("abca")
  with pytest.raises(ValueError):
    char_tokenizer.CharTokenizer("")
