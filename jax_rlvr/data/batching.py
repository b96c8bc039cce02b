"""Token lists -> padded int32 arrays. Prompts are left-padded (they end together, so a KV cache
writes every row at the same slot); responses are right-padded."""

from __future__ import annotations

import numpy as np

from jax_rlvr.data.templates import apply_template


def pad_tokens(
  token_lists, length: int, pad_id: int, *, left: bool, what: str = "sequence"
) -> tuple[np.ndarray, np.ndarray]:
  """Returns (tokens [B, length] int32, mask [B, length] int32). Raises on a too-long row."""
  tokens = np.full((len(token_lists), length), pad_id, np.int32)
  mask = np.zeros((len(token_lists), length), np.int32)
  for row, ids in enumerate(token_lists):
    if len(ids) > length:
      raise ValueError(
        f"A {what} has {len(ids)} tokens but the configured maximum is {length}; raise the "
        f"limit in the config or filter the data. Offending {what} (first 80 tokens): {ids[:80]}"
      )
    if not ids:
      continue
    cols = slice(length - len(ids), length) if left else slice(0, len(ids))
    tokens[row, cols] = ids
    mask[row, cols] = 1
  return tokens, mask


def encode_prompts(
  tokenizer, prompts, length: int, template: str = "none"
) -> tuple[np.ndarray, np.ndarray]:
  """Left-padded prompt tokens and mask, [Q, P] each (P = `length`): `template` applied to each
  prompt, BOS prepended when the tokenizer has one."""
  add_bos = tokenizer.bos_id is not None
  ids = [tokenizer.encode(apply_template(template, p), add_bos=add_bos) for p in prompts]
  return pad_tokens(ids, length, tokenizer.pad_id, left=True, what="prompt")
