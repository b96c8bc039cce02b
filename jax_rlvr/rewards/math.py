r"""Math grading: final-answer extraction plus math-verify equivalence, in a timeout-bounded pool.

    grader = MathGrader(num_workers=2)
    rewards = grader.grade_batch(responses, golds, timeout_s=5.0)   # [1.0, 0.0, ...]
    grader.last_stats                    # GradeStats(correct=.., wrong=.., unparseable=.., ...)

or the module-level `grade_batch(...)` / `grade(responses, answers)` (the `Task.grade` signature),
which share one lazily started grader.

Per response:
  1. In the parent (pure Python, linear time): `extraction.extract_answer` picks the final answer
     (the last `\boxed{}`, else `#### x`, else "the answer is x"; see that module) and cleans it.
     No answer, or one longer than `max_answer_chars`, is unparseable; nothing reaches sympy.
  2. Fast paths: equal `extraction.answer_key`s of answer and gold are correct; when both are plain
     numbers ("72", "-1,000", "2.50") they are compared exactly in the parent (integers that differ
     are wrong; decimals that differ go on to math-verify, whose rounding decides).
  3. Otherwise a worker runs `math_judge`: math-verify's `parse` of gold and answer (each wrapped
     in `$$...$$`) and `verify(gold, answer)`, with math-verify's own signal timeouts off (the pool
     enforces timeouts; see `grading_pool`). Identical (answer, gold) pairs in a batch run once.

Conventions (math-verify's, tested in tests/rewards):
  - Percentages: "50\%" matches both 50 and 0.5 (as gold or as answer); 50 and 0.5 do not match
    each other.
  - Units: a trailing `\text{unit}` after a number is dropped ("10 \text{ cm}" == 10), and so is
    `^\circ`.
  - Which answer: the last complete `\boxed{}`/`\fbox{}` wins over "####" and "the answer is";
    the last-number fallback is off unless `MathGrader(last_number=True)`.
  - Numbers: equal after rounding to 6 decimal places ("1/3" == 0.333333, "1/3" != 0.33);
    plain integers compare exactly (math-verify alone would round 17-digit integers).
  - Mixed numbers: "2\frac{1}{2}" is 5/2 (MATH convention), not 2 * 1/2.
  - Intervals keep their brackets ("(1,2)" != "[1,2]"); sets are unordered; an unbracketed list
    "1, 2" is a set; matrices compare entry-wise whatever the environment (pmatrix, bmatrix).
  - Known limits: decimals do not match exact constants (\pi != 3.14159); degrees are not radians;
    a lone "i" is a variable; variable names compare case-insensitively ("X" == "x").
  - A gold that math-verify cannot parse counts as an error (a data problem, not the policy's);
    only an exact string match can be correct against it.
"""

from __future__ import annotations

import dataclasses
import fractions
import functools
import logging
import math
import re
import threading
import time
from collections.abc import Sequence

from jax_rlvr.rewards import extraction, grading_pool
from jax_rlvr.rewards.grading_pool import CORRECT, ERROR, TIMED_OUT, UNPARSEABLE, WRONG

DEFAULT_TIMEOUT_S = 5.0
# Per-answer share of the default batch deadline: timeout_s + kill grace + this * ceil(jobs /
# workers). Ordinary answers take milliseconds, so this only binds on batches of slow answers.
DEFAULT_BUDGET_PER_ANSWER_S = 0.5
_PLAIN_NUMBER_RE = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


@dataclasses.dataclass
class GradeStats:
  """Counts for one grade_batch call (or a running total); they add up to the batch size.

  correct: reward 1.0.
  wrong: an answer was found and parsed, and it differs from the gold.
  unparseable: no final answer found, an answer over max_answer_chars, or one math-verify parses
    into nothing it can compare.
  timed_out: not graded within timeout_s, or not before the batch deadline.
  errors: the judge raised (RecursionError, MemoryError, ...), its worker died, or the gold did not
    parse (is empty, too long, or math-verify builds no sympy object from it).
  """

  correct: int = 0
  wrong: int = 0
  unparseable: int = 0
  timed_out: int = 0
  errors: int = 0

  @property
  def total(self) -> int:
    return self.correct + self.wrong + self.unparseable + self.timed_out + self.errors

  def add(self, outcome: str) -> None:
    field = {
      CORRECT: "correct",
      WRONG: "wrong",
      UNPARSEABLE: "unparseable",
      TIMED_OUT: "timed_out",
      ERROR: "errors",
    }[outcome]
    setattr(self, field, getattr(self, field) + 1)

  def __iadd__(self, other: GradeStats) -> GradeStats:
    for f in dataclasses.fields(self):
      setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
    return self


@functools.cache
def _math_verify():
  import math_verify

  # Timeouts are the pool's job; math-verify warns once that its own are off.
  logging.getLogger("math_verify").setLevel(logging.ERROR)
  return math_verify


def _parse(answer: str) -> list:
  math_verify = _math_verify()
  # $$...$$ allows newlines (a matrix over several lines) and needs no balanced braces.
  return math_verify.parse(f"$${answer}$$", parsing_timeout=None)


def math_judge(answer: str, gold: str) -> str:
  """CORRECT / WRONG / UNPARSEABLE for a cleaned answer against a cleaned gold (runs in a worker).

  math-verify falls back to the raw string when it cannot build a sympy object. Such an answer is
  unparseable, and such a gold raises ValueError (the pool reports an error): only an exact match
  could grade it, and MathGrader's fast path has already tried that.
  """
  gold_parsed = _parse(gold)
  if all(isinstance(g, str) for g in gold_parsed):
    raise ValueError(f"gold does not parse: {gold[:100]!r}")
  answer_parsed = _parse(answer)
  if all(isinstance(a, str) for a in answer_parsed):
    return UNPARSEABLE
  verify = _math_verify().verify
  return CORRECT if verify(gold_parsed, answer_parsed, timeout_seconds=None) else WRONG


def _fast_outcome(answer: str, gold: str) -> str | None:
  """CORRECT or WRONG when no sympy is needed to tell, else None."""
  if extraction.answer_key(answer) == extraction.answer_key(gold):
    return CORRECT
  if not (_PLAIN_NUMBER_RE.fullmatch(answer) and _PLAIN_NUMBER_RE.fullmatch(gold)):
    return None
  if fractions.Fraction(answer.replace(",", "")) == fractions.Fraction(gold.replace(",", "")):
    return CORRECT
  return WRONG if "." not in answer + gold else None


class MathGrader:
  """Grades math responses against gold answers in a persistent, timeout-bounded process pool.

  Use as a context manager or call close(). Thread-safe (calls are serialised).
  """

  def __init__(
    self,
    num_workers: int = 2,
    *,
    max_answer_chars: int = 1000,
    last_number: bool = False,
    budget_per_answer_s: float = DEFAULT_BUDGET_PER_ANSWER_S,
    memory_limit_mb: int | None = 4096,
    kill_grace_s: float = 0.5,
    judge=math_judge,
  ):
    """Starts the workers in the background.

    Args:
      num_workers: worker processes (each grades one answer at a time).
      max_answer_chars: a longer extracted answer is unparseable without reaching a worker.
      last_number: fall back to the last number of a response with no other answer.
      budget_per_answer_s: per-answer share of the default batch deadline.
      memory_limit_mb: address space a worker may grow by (MemoryError beyond); None: no cap.
      kill_grace_s: how long past timeout_s the parent waits before killing a worker.
      judge: `judge(answer, gold) -> outcome`, a picklable module-level function.
    """
    self.max_answer_chars = max_answer_chars
    self.last_number = last_number
    self.budget_per_answer_s = budget_per_answer_s
    self.kill_grace_s = kill_grace_s
    self.pool = grading_pool.GradingPool(
      judge,
      num_workers,
      warmup=("\\frac{1}{2}", "0.5") if judge is math_judge else None,
      memory_limit_mb=memory_limit_mb,
      kill_grace_s=kill_grace_s,
    )
    self.pool.start()
    self._lock = threading.Lock()
    self.last_stats = GradeStats()
    self.total_stats = GradeStats()

  def default_deadline_s(self, num_jobs: int, timeout_s: float) -> float:
    """timeout_s + kill_grace_s + budget_per_answer_s * ceil(num_jobs / num_workers)."""
    rounds = math.ceil(num_jobs / self.pool.num_workers)
    return timeout_s + self.kill_grace_s + self.budget_per_answer_s * rounds

  def grade_batch(
    self,
    responses: Sequence[str],
    golds: Sequence[str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    deadline_s: float | None = None,
    return_stats: bool = False,
  ) -> list[float] | tuple[list[float], GradeStats]:
    """Rewards (1.0 correct, else 0.0) for responses[i] against golds[i], in input order.

    Args:
      responses: model outputs (any length; extraction is linear).
      golds: reference answers in LaTeX or plain text, e.g. "\\frac{1}{2}", "72", "[1, 2)".
      timeout_s: per answer that needs math-verify; past it the answer is 0.0 and timed out.
      deadline_s: for the whole call (except the wait for a first worker to start);
        default `default_deadline_s(jobs, timeout_s)`, jobs being the distinct answers that
        need math-verify. Answers not graded by then are 0.0 and timed out.
      return_stats: also return this call's GradeStats (always in `self.last_stats`).
    """
    if len(responses) != len(golds):
      raise ValueError(f"{len(responses)} responses but {len(golds)} golds.")
    with self._lock:
      rewards, stats = self._grade(responses, golds, timeout_s, deadline_s)
    return (rewards, stats) if return_stats else rewards

  def _grade(self, responses, golds, timeout_s, deadline_s):
    start = time.monotonic()
    outcomes: list[str | None] = [None] * len(responses)
    jobs: dict[tuple[str, str], list[int]] = {}
    for i, (response, gold) in enumerate(zip(responses, golds, strict=True)):
      answer = extraction.extract_answer(response, last_number=self.last_number)
      gold = extraction.clean_answer(gold)
      if answer is None or len(answer) > self.max_answer_chars:
        outcomes[i] = UNPARSEABLE
      elif not gold or len(gold) > self.max_answer_chars:
        outcomes[i] = ERROR
      else:
        outcomes[i] = _fast_outcome(answer, gold)
        if outcomes[i] is None:
          jobs.setdefault((answer, gold), []).append(i)
    if jobs:
      if deadline_s is None:
        deadline_s = self.default_deadline_s(len(jobs), timeout_s)
      pairs = list(jobs)
      remaining_s = deadline_s - (time.monotonic() - start)
      for pair, outcome in zip(
        pairs, self.pool.run(pairs, timeout_s=timeout_s, deadline_s=remaining_s), strict=True
      ):
        for i in jobs[pair]:
          outcomes[i] = outcome
    stats = GradeStats()
    for outcome in outcomes:
      stats.add(outcome)
    self.last_stats = stats
    self.total_stats += stats
    return [1.0 if outcome == CORRECT else 0.0 for outcome in outcomes], stats

  def close(self) -> None:
    self.pool.close()

  def __enter__(self) -> MathGrader:
    return self

  def __exit__(self, *exc) -> None:
    self.close()


_shared_grader: MathGrader | None = None
_shared_lock = threading.Lock()


def shared_grader() -> MathGrader:
  """The process-wide MathGrader behind `grade_batch` and `grade`, created on first use."""
  global _shared_grader
  with _shared_lock:
    if _shared_grader is None:
      _shared_grader = MathGrader()
    return _shared_grader


def grade_batch(
  responses: Sequence[str],
  golds: Sequence[str],
  *,
  timeout_s: float = DEFAULT_TIMEOUT_S,
  deadline_s: float | None = None,
  return_stats: bool = False,
) -> list[float] | tuple[list[float], GradeStats]:
  """`MathGrader.grade_batch` on the shared grader (counters: `shared_grader().last_stats`)."""
  return shared_grader().grade_batch(
    responses, golds, timeout_s=timeout_s, deadline_s=deadline_s, return_stats=return_stats
  )


def grade(responses: Sequence[str], answers: Sequence[str]) -> list[float]:
  """`Task.grade` for math tasks: grade_batch with the default timeout and deadline."""
  return grade_batch(responses, answers)
