"""The grading pool survives hangs, crashes and deadlines: no single task stalls a batch."""

import time

import pool_judges
import pytest

from jax_rlvr.rewards import grading_pool
from jax_rlvr.rewards.grading_pool import CORRECT, ERROR, TIMED_OUT, WRONG

# Wall-clock slack over a deadline: process kill, join and respawn on a loaded 2-core machine.
SLACK_S = 1.0
# Generous, so that a soft timeout on a loaded machine is never mistaken for a hang.
KILL_GRACE_S = 1.0


@pytest.fixture(scope="module")
def pool():
  with grading_pool.GradingPool(
    pool_judges.scripted_judge, num_workers=2, memory_limit_mb=512, kill_grace_s=KILL_GRACE_S
  ) as p:
    assert p.run([("a", "a")], timeout_s=5.0, deadline_s=30.0) == [CORRECT]  # Workers ready.
    yield p


def test_outcomes_in_input_order(pool):
  tasks = [("sleep 0.3", "x"), ("a", "a"), ("a", "b"), ("sleep 0.1", "y"), ("c", "c"), ("d", "e")]
  assert pool.run(tasks, timeout_s=5.0, deadline_s=10.0) == [
    CORRECT,
    CORRECT,
    WRONG,
    CORRECT,
    CORRECT,
    WRONG,
  ]


def test_soft_timeout_keeps_the_worker(pool):
  replaced = pool.workers_replaced
  start = time.monotonic()
  assert pool.run([("loop", "x"), ("a", "a")], timeout_s=0.5, deadline_s=10.0) == [
    TIMED_OUT,
    CORRECT,
  ]
  assert time.monotonic() - start < 0.5 + SLACK_S
  assert pool.workers_replaced == replaced


def test_hard_timeout_kills_and_replaces_the_worker(pool):
  replaced = pool.workers_replaced
  start = time.monotonic()
  outcomes = pool.run([("hang", "x"), ("a", "a"), ("b", "c")], timeout_s=0.5, deadline_s=10.0)
  assert outcomes == [TIMED_OUT, CORRECT, WRONG]
  assert time.monotonic() - start < 0.5 + KILL_GRACE_S + SLACK_S
  assert pool.workers_replaced == replaced + 1
  # The replacement takes work: a batch needing both workers at once still finishes.
  outcomes = pool.run([("sleep 0.5", "x"), ("sleep 0.5", "y")], timeout_s=5.0, deadline_s=30.0)
  assert outcomes == [CORRECT, CORRECT]


@pytest.mark.parametrize("answer", ["segfault", "exit"])
def test_dead_worker_is_an_error_and_is_replaced(pool, answer):
  replaced = pool.workers_replaced
  outcomes = pool.run([(answer, "x"), ("a", "a"), ("b", "b")], timeout_s=5.0, deadline_s=10.0)
  assert outcomes == [ERROR, CORRECT, CORRECT]
  assert pool.workers_replaced == replaced + 1


@pytest.mark.parametrize("answer", ["recursion", "memory", "raise", "bad outcome"])
def test_judge_failure_is_an_error_and_keeps_the_worker(pool, answer):
  replaced = pool.workers_replaced
  assert pool.run([(answer, "x"), ("a", "a")], timeout_s=5.0, deadline_s=10.0) == [ERROR, CORRECT]
  assert pool.workers_replaced == replaced


def test_batch_deadline_bounds_the_call(pool):
  tasks = [("hang", "x")] * 4 + [("a", "a")]
  start = time.monotonic()
  outcomes = pool.run(tasks, timeout_s=30.0, deadline_s=1.0)
  assert time.monotonic() - start < 1.0 + SLACK_S
  # Two workers hang on the first two tasks; nothing else starts before the deadline.
  assert outcomes == [TIMED_OUT] * 5
  assert pool.run([("a", "a"), ("a", "b")], timeout_s=5.0, deadline_s=30.0) == [CORRECT, WRONG]


def test_spent_deadline_starts_nothing(pool):
  replaced = pool.workers_replaced
  assert pool.run([("a", "a")], timeout_s=5.0, deadline_s=-1.0) == [TIMED_OUT]
  assert pool.workers_replaced == replaced


def test_empty_batch(pool):
  assert pool.run([], timeout_s=1.0, deadline_s=1.0) == []


def test_workers_that_cannot_start_raise():
  with grading_pool.GradingPool(pool_judges.failing_judge, num_workers=1, warmup=("a", "a")) as p:
    with pytest.raises(RuntimeError, match="cannot start"):
      p.run([("a", "a")], timeout_s=1.0, deadline_s=1.0)


def test_closed_pool_refuses_work():
  p = grading_pool.GradingPool(pool_judges.scripted_judge, num_workers=1)
  p.start()
  processes = [w.process for w in p._workers]
  p.close()
  assert not any(process.is_alive() for process in processes)
  with pytest.raises(RuntimeError, match="closed"):
    p.run([("a", "a")], timeout_s=1.0, deadline_s=1.0)
