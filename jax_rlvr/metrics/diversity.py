"""Diversity of the G sampled responses of each prompt: distinct-n, Self-BLEU, unique-answer rate.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G samples per prompt.

Inputs are Q prompts × G samples, `responses_QG: list[list[str]]`. Every metric is computed within
the G responses of one prompt and then averaged over prompts (the paper relates these to entropy:
N-gram diversity and Self-BLEU, Spearman ≈ 0.88).

Tokenisation (shared by distinct-n and Self-BLEU, so both see the same units):
  unit="word"  whitespace-separated words (`str.split()`); no punctuation splitting, no lowercasing.
  unit="char"  every non-whitespace character, for tasks without spaces such as the project's
               arithmetic chains ("23+9=32,...>54" has 15 character tokens).

Self-BLEU is on a 0-1 scale (sacrebleu's 0-100 score divided by 100): 1.0 for G identical responses,
higher = less diverse.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sacrebleu.metrics import BLEU

UNITS = ("word", "char")


def tokenize(text: str, unit: str = "word") -> list[str]:
  """Splits `text` into whitespace words (unit="word") or non-whitespace characters ("char")."""
  if unit == "word":
    return text.split()
  if unit == "char":
    return [c for c in text if not c.isspace()]
  raise ValueError(f"Unknown tokenisation unit {unit!r}; choose one of {UNITS}.")


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
  return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n_single(responses_G: Sequence[str], n: int, *, unit: str = "word") -> float:
  """Distinct n-grams / total n-grams, pooled over the G responses of one prompt.

  NaN when the responses have no n-gram at all (every response shorter than n tokens).
  """
  if n < 1:
    raise ValueError(f"n must be >= 1, got {n}.")
  grams = [g for r in responses_G for g in _ngrams(tokenize(r, unit), n)]
  if not grams:
    return float("nan")
  return len(set(grams)) / len(grams)


def distinct_n(responses_QG: Sequence[Sequence[str]], n: int, *, unit: str = "word") -> float:
  """distinct_n_single averaged over prompts, skipping prompts without n-grams (NaN if all)."""
  return _nanmean([distinct_n_single(r, n, unit=unit) for r in responses_QG])


def _bleu_scorer(smooth_method: str) -> BLEU:
  # Inputs are pre-tokenised by `tokenize` and joined with spaces, so sacrebleu must only split on
  # whitespace ("none") and must not lowercase; effective order drops n-gram orders a short
  # hypothesis cannot have instead of zeroing the geometric mean.
  return BLEU(tokenize="none", smooth_method=smooth_method, effective_order=True, lowercase=False)


def self_bleu_single(
  responses_G: Sequence[str], *, unit: str = "word", smooth_method: str = "exp"
) -> float:
  """Mean over the G responses of sentence BLEU-4 (0-1) against the other G-1 as references.

  Sentence BLEU from sacrebleu with effective order and `smooth_method` (default "exp": a zero
  n-gram precision is replaced by 1 / (2^k · total), k counting the zero orders so far — Chen &
  Cherry 2014, method 3; sacrebleu's sentence-level default). Empty responses score 0 as
  hypotheses. NaN when G < 2.
  """
  if len(responses_G) < 2:
    return float("nan")
  scorer = _bleu_scorer(smooth_method)
  texts = [" ".join(tokenize(r, unit)) for r in responses_G]
  scores = [
    scorer.sentence_score(hyp, texts[:i] + texts[i + 1 :]).score / 100.0
    for i, hyp in enumerate(texts)
  ]
  return float(np.mean(scores))


def self_bleu(
  responses_QG: Sequence[Sequence[str]], *, unit: str = "word", smooth_method: str = "exp"
) -> float:
  """self_bleu_single averaged over prompts (0-1; prompts with G < 2 skipped, NaN if all)."""
  return _nanmean(
    [self_bleu_single(r, unit=unit, smooth_method=smooth_method) for r in responses_QG]
  )


def unique_answer_rate(answers_QG: Sequence[Sequence[str | None]]) -> float:
  """Distinct final answers / G per prompt, averaged over prompts.

  `answers_QG` holds the extracted final answers (e.g. `arithmetic.extract_answer(response)`);
  None marks a response without an answer and is not counted as an answer (the denominator stays
  G), so G unparseable responses give 0 and G different answers give 1.
  """
  rates = []
  for answers_G in answers_QG:
    if len(answers_G) == 0:
      raise ValueError("Every prompt needs at least one sample.")
    rates.append(len({a for a in answers_G if a is not None}) / len(answers_G))
  return _nanmean(rates)


def diversity_metrics(
  responses_QG: Sequence[Sequence[str]],
  answers_QG: Sequence[Sequence[str | None]] | None = None,
  *,
  unit: str = "word",
  max_n: int = 4,
  smooth_method: str = "exp",
) -> dict[str, float]:
  """{"distinct_1".."distinct_<max_n>", "self_bleu"[, "unique_answer_rate" if answers given]}."""
  out = {f"distinct_{n}": distinct_n(responses_QG, n, unit=unit) for n in range(1, max_n + 1)}
  out["self_bleu"] = self_bleu(responses_QG, unit=unit, smooth_method=smooth_method)
  if answers_QG is not None:
    out["unique_answer_rate"] = unique_answer_rate(answers_QG)
  return out


def _nanmean(values: Sequence[float]) -> float:
  finite = [v for v in values if not np.isnan(v)]
  return float(np.mean(finite)) if finite else float("nan")
