"""Research instruments: pass@k, entropy statistics, diversity, calibration."""

from jax_rlvr.metrics.pass_at_k import pass_at_k, summarize_correctness

__all__ = ["pass_at_k", "summarize_correctness"]
