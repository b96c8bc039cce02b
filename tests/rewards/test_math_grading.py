r"""MathGrader on a fixture of tricky pairs, on hostile inputs, and its counters and API."""

import inspect
import time

import math_cases
import pool_judges
import pytest

from jax_rlvr.rewards import math as math_grading
from jax_rlvr.rewards.math import GradeStats, MathGrader

# Wall-clock slack over a deadline: kill, join and respawn on a loaded 2-core machine.
SLACK_S = 1.0
TOWER = r"\boxed{10^{10^{10^{10}}}}"
# Bare nested groups: math-verify's parse time grows exponentially with depth (20 levels: ~3 s).
NESTED_GROUPS = r"\boxed{" + "{" * 400 + "1" + "}" * 400 + "}"


@pytest.fixture(scope="module")
def grader():
  with MathGrader(num_workers=2) as g:
    assert g.grade_batch([r"\boxed{1}"], ["1.0"], timeout_s=30.0) == [1.0]  # Workers ready.
    yield g


@pytest.fixture(scope="module")
def case_rewards(grader):
  responses = [response for response, _, _ in math_cases.CASES]
  golds = [gold for _, gold, _ in math_cases.CASES]
  return grader.grade_batch(responses, golds, timeout_s=10.0)


def test_fixture_covers_every_category_both_ways():
  assert len(math_cases.CASES) >= 60
  for name in ["FRACTIONS", "MIXED_NUMBERS", "PERCENTAGES", "UNITS", "INTERVALS", "SETS"]:
    assert {e for _, _, e in getattr(math_cases, name)} == {0.0, 1.0}, name
  for name in ["MATRICES", "SCIENTIFIC", "LATEX_SPACING", "WHICH_ANSWER", "OTHER"]:
    assert {e for _, _, e in getattr(math_cases, name)} == {0.0, 1.0}, name


@pytest.mark.parametrize(
  "index", range(len(math_cases.CASES)), ids=[c[0][:40] for c in math_cases.CASES]
)
def test_case(case_rewards, index):
  response, gold, expected = math_cases.CASES[index]
  assert case_rewards[index] == expected, (response, gold)


def test_counters_add_up(grader):
  responses = [
    r"\boxed{\frac{1}{2}}",  # correct, exact-match fast path
    r"\boxed{0.5}",  # correct through math-verify
    r"\boxed{0.5}",  # the same pair again (graded once, counted twice)
    r"\boxed{3}",  # wrong
    "no final answer here",  # unparseable: nothing extracted
    r"\boxed{" + "1" * 1001 + "}",  # unparseable: over max_answer_chars
    r"\boxed{x+}",  # unparseable: math-verify builds nothing from it
    TOWER,  # timed out
    r"\boxed{1}",  # error: the gold does not parse
    r"\boxed{1}",  # error: empty gold
  ]
  golds = [r"\frac{1}{2}", r"\frac12", r"\frac12", "4", "1", "1", "1", "1", "}{", " "]
  rewards, stats = grader.grade_batch(responses, golds, timeout_s=1.0, return_stats=True)
  assert rewards == [1.0, 1.0, 1.0] + [0.0] * 7
  assert stats == GradeStats(correct=3, wrong=1, unparseable=3, timed_out=1, errors=2)
  assert stats.total == len(responses)
  assert grader.last_stats == stats


def test_total_stats_accumulate(grader):
  before = grader.total_stats.correct
  grader.grade_batch([r"\boxed{2}", r"\boxed{3}"], ["2", "2"])
  assert grader.total_stats.correct == before + 1


def test_order_is_input_order_around_a_slow_answer(grader):
  responses = [TOWER, r"\boxed{7}", r"\boxed{8}", r"\boxed{\frac{14}{2}}", r"\boxed{7}", TOWER]
  golds = ["1", "7", "7", "7", "8", "1"]
  assert grader.grade_batch(responses, golds, timeout_s=1.0) == [0, 1, 0, 1, 0, 0]


def test_hostile_megabyte_responses(grader):
  mb = 2**20
  responses = [
    "x" * mb,
    "x" * mb + r" so \boxed{42}",
    r"\boxed{" + "9" * mb + "}",
    "The answer is " + "1 " * (mb // 2),
    r"\boxed{\frac{84}{2}}",
  ]
  start = time.monotonic()
  rewards, stats = grader.grade_batch(responses, ["42"] * 5, return_stats=True)
  assert time.monotonic() - start < 2.0
  assert rewards == [0.0, 1.0, 0.0, 0.0, 1.0]
  assert stats == GradeStats(correct=2, unparseable=3)


@pytest.mark.parametrize(
  "hostile, expected",
  [
    (TOWER, GradeStats(correct=1, timed_out=1)),
    (r"\boxed{(10^{10})!}", GradeStats(correct=1, timed_out=1)),
    (NESTED_GROUPS, GradeStats(correct=1, timed_out=1)),
    # Thousands of nested braces: over max_answer_chars, rejected before any worker sees them.
    (r"\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}", GradeStats(correct=1, unparseable=1)),
    (
      r"\boxed{" + r"\frac{" * 3000 + "1" + "}{2}" * 3000 + "}",
      GradeStats(correct=1, unparseable=1),
    ),
    ("{" * 100_000 + r"\boxed{1}", GradeStats(correct=2)),  # Unclosed braces before the answer.
  ],
)
def test_hostile_answer_returns_within_the_deadline(grader, hostile, expected):
  timeout_s = 1.0
  deadline_s = grader.default_deadline_s(2, timeout_s)
  start = time.monotonic()
  rewards, stats = grader.grade_batch(
    [hostile, r"\boxed{\dfrac{3}{6}}"], ["1", "0.5"], timeout_s=timeout_s, return_stats=True
  )
  assert time.monotonic() - start < deadline_s + SLACK_S
  assert rewards[1] == 1.0
  assert stats == expected


def test_batch_deadline_bounds_many_slow_answers(grader):
  towers = [rf"\boxed{{10^{{10^{{10^{{{k}}}}}}}}}" for k in range(10, 16)]
  start = time.monotonic()
  rewards, stats = grader.grade_batch(
    [r"\boxed{0.5}"] + towers,
    ["1/2"] + ["1"] * 6,
    timeout_s=5.0,
    deadline_s=1.5,
    return_stats=True,
  )
  assert time.monotonic() - start < 1.5 + SLACK_S
  assert rewards == [1.0] + [0.0] * 6
  assert stats == GradeStats(correct=1, timed_out=6)
  # The killed workers are replaced and the next batch is graded.
  assert grader.grade_batch([r"\boxed{0.25}"], [r"\frac14"], timeout_s=30.0) == [1.0]


def test_hung_and_crashed_workers_are_counted_and_replaced():
  with MathGrader(num_workers=2, kill_grace_s=0.3, judge=pool_judges.scripted_judge) as g:
    responses = [r"\boxed{hang}", r"\boxed{segfault}", r"\boxed{a}", r"\boxed{b}"]
    rewards, stats = g.grade_batch(
      responses, ["x", "x", "a", "a"], timeout_s=0.5, return_stats=True
    )
    assert rewards == [0.0, 0.0, 1.0, 0.0]
    assert stats == GradeStats(correct=1, wrong=1, timed_out=1, errors=1)
    assert g.pool.workers_replaced == 2
    assert g.grade_batch([r"\boxed{c}"], ["c"]) == [1.0]


def test_last_number_fallback_is_opt_in(grader):
  response = "I computed 3 + 4 = 7"
  assert grader.grade_batch([response], ["7"]) == [0.0]
  assert grader.last_stats == GradeStats(unparseable=1)
  with MathGrader(num_workers=1, last_number=True, judge=pool_judges.scripted_judge) as g:
    assert g.grade_batch([response], ["7"]) == [1.0]


def test_plain_numbers_are_compared_without_a_worker():
  # The scripted judge compares strings, so a 1.0 below for different strings comes from the
  # parent's exact number comparison, and a 0.0 for near-equal integers is not sympy rounding.
  pairs = [
    (r"\boxed{1,000}", "1000", 1.0),
    (r"\boxed{5.00}", "5", 1.0),
    (r"\boxed{+0.5}", "0.50", 1.0),
    ("#### -0", "0", 1.0),
    ("#### 12345678901234567", "12345678901234568", 0.0),
    ("The answer is 0.3333333.", "0.333333", 0.0),  # Decimals that differ: the judge decides.
  ]
  with MathGrader(num_workers=1, judge=pool_judges.scripted_judge) as g:
    rewards = g.grade_batch([r for r, _, _ in pairs], [gold for _, gold, _ in pairs])
  assert rewards == [e for _, _, e in pairs]


def test_mismatched_lengths_raise(grader):
  with pytest.raises(ValueError, match="2 responses but 1 golds"):
    grader.grade_batch(["a", "b"], ["a"])


def test_empty_batch(grader):
  assert grader.grade_batch([], [], return_stats=True) == ([], GradeStats())


def test_grade_has_the_task_signature_and_uses_a_shared_grader(monkeypatch):
  assert list(inspect.signature(math_grading.grade).parameters) == ["responses", "answers"]
  monkeypatch.setattr(math_grading, "_shared_grader", None)
  try:
    assert math_grading.grade([r"\boxed{\frac{1}{2}}", "#### 3"], ["0.5", "4"]) == [1.0, 0.0]
    shared = math_grading.shared_grader()
    assert shared.last_stats == GradeStats(correct=1, wrong=1)
    rewards, stats = math_grading.grade_batch(["#### 4"], ["4"], return_stats=True)
    assert (rewards, stats) == ([1.0], GradeStats(correct=1))
    assert math_grading.shared_grader() is shared
  finally:
    math_grading.shared_grader().close()
