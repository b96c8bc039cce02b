"""Research instruments: pass@k, entropy statistics, diversity, calibration, correlations."""

from jax_rlvr.metrics.calibration import (
  answer_token_mask,
  brier_score,
  expected_calibration_error,
  mean_logprob_confidence,
  plot_reliability,
  reliability_table,
  response_confidences,
)
from jax_rlvr.metrics.correlation import correlations
from jax_rlvr.metrics.diversity import (
  distinct_n,
  distinct_n_single,
  diversity_metrics,
  self_bleu,
  self_bleu_single,
  tokenize,
  unique_answer_rate,
)
from jax_rlvr.metrics.entropy_stats import (
  entropy_by_advantage_sign,
  masked_mean,
  mean_token_entropy,
  prompt_entropy,
)
from jax_rlvr.metrics.pass_at_k import pass_at_k, summarize_correctness

__all__ = [
  "answer_token_mask",
  "brier_score",
  "correlations",
  "distinct_n",
  "distinct_n_single",
  "diversity_metrics",
  "entropy_by_advantage_sign",
  "expected_calibration_error",
  "masked_mean",
  "mean_logprob_confidence",
  "mean_token_entropy",
  "pass_at_k",
  "plot_reliability",
  "prompt_entropy",
  "reliability_table",
  "response_confidences",
  "self_bleu",
  "self_bleu_single",
  "summarize_correctness",
  "tokenize",
  "unique_answer_rate",
]
