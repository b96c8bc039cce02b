"""Log-prob confidence of sampled responses and its calibration against correctness.

Shape letters (as in jax_rlvr/__init__.py): B responses, Y response tokens.

`logprobs_BY` are the sampled tokens' log-probs log π(y_t | x, y_<t) (float, from the scorer);
masks are 0/1 or bool. Per-bin arrays have `num_bins` entries.

Confidence of a response = exp(mean token log-prob) over a set of its tokens: over all response
tokens, or over the final-answer tokens only (the paper's "log-prob confidence", compared with
accuracy in reliability plots: the stronger the entropy collapse, the more over-confident).

ECE binning: M = num_bins equal-width bins on [0, 1]; a confidence c goes to bin floor(c·M)
(c = 1 to the last bin), so bin m covers [m/M, (m+1)/M).
ECE = Σ_m (n_m / n) |accuracy_m - mean confidence_m|.
Entries with a non-finite confidence (e.g. an empty answer mask) are left out of ECE, Brier and the
plot.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def mean_logprob_confidence(logprobs_BY, mask_BY) -> np.ndarray:
  """[B] exp(Σ_t mask·logprob / Σ_t mask); NaN for rows whose mask is empty."""
  logprobs_BY = np.asarray(logprobs_BY, np.float64)
  mask_BY = np.asarray(mask_BY, np.float64)
  if logprobs_BY.shape != mask_BY.shape or logprobs_BY.ndim != 2:
    raise ValueError(f"Need equal [B, Y] shapes, got {logprobs_BY.shape} and {mask_BY.shape}.")
  count_B = mask_BY.sum(axis=1)
  # where= leaves masked-out entries out, so -inf log-probs on padding cannot poison the sum.
  total_B = np.sum(logprobs_BY, axis=1, where=mask_BY > 0)
  with np.errstate(divide="ignore", invalid="ignore"):
    mean_B = np.where(count_B > 0, total_B / np.maximum(count_B, 1), np.nan)
  return np.exp(mean_B)


def response_confidences(logprobs_BY, response_mask_BY, answer_mask_BY) -> dict[str, np.ndarray]:
  """{"response": [B] confidence over response tokens, "answer": [B] over final-answer tokens}.

  The answer mask is intersected with the response mask; rows without answer tokens get NaN.
  """
  response_mask_BY = np.asarray(response_mask_BY) > 0
  answer_mask_BY = (np.asarray(answer_mask_BY) > 0) & response_mask_BY
  return {
    "response": mean_logprob_confidence(logprobs_BY, response_mask_BY),
    "answer": mean_logprob_confidence(logprobs_BY, answer_mask_BY),
  }


def answer_token_mask(tokens_BY, response_mask_BY, marker_id: int, *, exclude_ids=()) -> np.ndarray:
  """[B, Y] bool: response tokens after the last `marker_id` token, minus `exclude_ids` (e.g. EOS).

  For the arithmetic-chains task with the character tokenizer, marker_id is the id of ">" (the
  answer marker) and the result marks the digits of the final answer. Rows without a marker inside
  the response are all False.
  """
  tokens_BY = np.asarray(tokens_BY)
  response_mask_BY = np.asarray(response_mask_BY) > 0
  num_positions = tokens_BY.shape[1]
  is_marker_BY = (tokens_BY == marker_id) & response_mask_BY
  has_marker_B = is_marker_BY.any(axis=1)
  last_marker_B = num_positions - 1 - np.argmax(is_marker_BY[:, ::-1], axis=1)
  after_BY = np.arange(num_positions)[None, :] > last_marker_B[:, None]
  keep_BY = response_mask_BY & after_BY & has_marker_B[:, None]
  return keep_BY & ~np.isin(tokens_BY, np.asarray(exclude_ids, tokens_BY.dtype))


def _finite(confidences, correct) -> tuple[np.ndarray, np.ndarray]:
  conf = np.asarray(confidences, np.float64).reshape(-1)
  corr = np.asarray(correct, np.float64).reshape(-1)
  if conf.shape != corr.shape:
    raise ValueError(f"confidences {conf.shape} and correct {corr.shape} differ in size.")
  keep = np.isfinite(conf)
  conf, corr = conf[keep], corr[keep]
  if np.any((conf < 0) | (conf > 1)):
    raise ValueError("Confidences must lie in [0, 1].")
  return conf, corr


def reliability_table(confidences, correct, num_bins: int = 10) -> dict[str, np.ndarray]:
  """Per-bin table of `num_bins` equal-width bins on [0, 1].

  Returns [num_bins] arrays: "lower", "upper" (bin edges), "count", "confidence" (mean confidence),
  "accuracy" (mean correctness); the last two are NaN for empty bins.
  """
  if num_bins < 1:
    raise ValueError(f"num_bins must be >= 1, got {num_bins}.")
  conf, corr = _finite(confidences, correct)
  bin_idx = np.minimum(np.floor(conf * num_bins).astype(int), num_bins - 1)
  bin_count = np.bincount(bin_idx, minlength=num_bins).astype(np.float64)
  bin_conf_sum = np.bincount(bin_idx, weights=conf, minlength=num_bins)
  bin_corr_sum = np.bincount(bin_idx, weights=corr, minlength=num_bins)
  with np.errstate(divide="ignore", invalid="ignore"):
    bin_confidence = np.where(bin_count > 0, bin_conf_sum / bin_count, np.nan)
    bin_accuracy = np.where(bin_count > 0, bin_corr_sum / bin_count, np.nan)
  edges = np.arange(num_bins + 1) / num_bins
  return {
    "lower": edges[:-1],
    "upper": edges[1:],
    "count": bin_count.astype(int),
    "confidence": bin_confidence,
    "accuracy": bin_accuracy,
  }


def expected_calibration_error(confidences, correct, num_bins: int = 10) -> float:
  """Σ_m (n_m / n) |accuracy_m - confidence_m| over M equal-width bins; NaN without data."""
  table = reliability_table(confidences, correct, num_bins)
  total = table["count"].sum()
  if total == 0:
    return float("nan")
  used = table["count"] > 0
  gaps = np.abs(table["accuracy"][used] - table["confidence"][used])
  return float(np.sum(table["count"][used] / total * gaps))


def brier_score(confidences, correct) -> float:
  """Mean squared error (confidence - correct)² (binary outcome); NaN without data."""
  conf, corr = _finite(confidences, correct)
  return float(np.mean((conf - corr) ** 2)) if conf.size else float("nan")


def plot_reliability(
  confidences,
  correct,
  path: str,
  *,
  num_bins: int = 10,
  title: str = "Reliability diagram",
) -> str:
  """Writes a reliability diagram PNG to `path` and returns it.

  Top: per-bin accuracy (bars) against the diagonal of perfect calibration, ECE in the legend.
  Bottom: how many responses fall in each bin. Uses the Agg canvas directly, so it does not touch
  pyplot's global backend.
  """
  table = reliability_table(confidences, correct, num_bins)
  ece = expected_calibration_error(confidences, correct, num_bins)
  width = 1.0 / num_bins
  centers = (table["lower"] + table["upper"]) / 2

  fig = Figure(figsize=(4.5, 5.5), dpi=100)
  FigureCanvasAgg(fig)
  top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
  used = table["count"] > 0
  top.bar(
    centers[used],
    table["accuracy"][used],
    width=width,
    edgecolor="black",
    color="tab:blue",
    label=f"accuracy (ECE = {ece:.3f})",
  )
  top.bar(
    centers[used],
    table["confidence"][used] - table["accuracy"][used],
    bottom=table["accuracy"][used],
    width=width,
    edgecolor="tab:red",
    color="tab:red",
    alpha=0.3,
    label="gap to mean confidence",
  )
  top.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
  top.set_xlim(0, 1)
  top.set_ylim(0, 1)
  top.set_ylabel("accuracy")
  top.set_title(title)
  top.legend(loc="upper left", fontsize="small")
  bottom.bar(centers, table["count"], width=width, edgecolor="black", color="gray")
  bottom.set_xlabel("confidence (exp mean token log-prob)")
  bottom.set_ylabel("count")
  fig.tight_layout()
  fig.savefig(path, format="png")
  return path
