"""Policies, checkpoint import/export and tokenizers."""

from jax_rlvr.models.config import PRESETS, ModelConfig, get_preset
from jax_rlvr.models.hf_checkpoint import load_hf_checkpoint, save_hf_checkpoint
from jax_rlvr.models.hf_tokenizer import load_tokenizer
from jax_rlvr.models.policy import KVCache, Policy, count_params, positions_from_mask
from jax_rlvr.models.tokenizer import Tokenizer

__all__ = [
  "PRESETS",
  "KVCache",
  "ModelConfig",
  "Policy",
  "count_params",
  "get_preset",
  "load_hf_checkpoint",
  "load_tokenizer",
  "positions_from_mask",
  "save_hf_checkpoint",
  "Tokenizer",
]
