"""Policies, checkpoint import/export and tokenizers."""

from jax_rlvr.models.config import PRESETS, ModelConfig, get_preset
from jax_rlvr.models.policy import KVCache, Policy, count_params, positions_from_mask

__all__ = [
  "PRESETS",
  "KVCache",
  "ModelConfig",
  "Policy",
  "count_params",
  "get_preset",
  "positions_from_mask",
]
