"""A pool of grading worker processes that no single task can stall or crash.

Why not `concurrent.futures.ProcessPoolExecutor`: it cannot cancel a running task, and a hung sympy
call never returns. Each worker here is a `multiprocessing` process with its own pipe that runs one
task at a time in its main thread, so the timeouts work in two layers:

  soft: a SIGALRM interval timer in the worker interrupts a task after timeout_s. This catches the
    usual hangs (sympy loops in Python, e.g. evaluating 10^{10^{10}}) and keeps the worker alive.
  hard: the parent kills a worker whose task has run timeout_s + kill_grace_s (a hang in C code,
    which no signal interrupts) or that died (segfault, out of memory), and starts a replacement.

A batch deadline bounds a whole `run` call: tasks still running then are killed and tasks never
started count as timed out. Workers use the `spawn` start method (the parent runs JAX threads, so
`fork` is unsafe); a replacement starts in the background and takes work once it reports ready.
Each worker also caps its address space (`memory_limit_mb` above what it uses at start), so a huge
allocation fails with MemoryError in the worker instead of exhausting the host.

A judge is a picklable module-level function `judge(a: str, b: str) -> str` that returns one of
CORRECT, WRONG or UNPARSEABLE; the pool adds TIMED_OUT and ERROR (the judge raised, or the worker
died).
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait

from absl import logging

CORRECT = "correct"
WRONG = "wrong"
UNPARSEABLE = "unparseable"
TIMED_OUT = "timed_out"
ERROR = "error"
OUTCOMES = (CORRECT, WRONG, UNPARSEABLE, TIMED_OUT, ERROR)

# A worker that fails this many times in a row before reporting ready means a broken setup (e.g. a
# missing dependency), not a bad answer: the pool raises instead of retrying forever.
_MAX_STARTUP_FAILURES = 3


class _SoftTimeout(BaseException):
  """Raised by the worker's SIGALRM handler; BaseException so judges' `except Exception` miss it."""


_task_running = False


def _on_alarm(signum, frame):
  # The flag closes the race of an alarm that fires just after the task returned.
  if _task_running:
    raise _SoftTimeout()


def _limit_address_space(memory_limit_mb: int | None) -> None:
  if not memory_limit_mb:
    return
  import resource

  try:
    with open("/proc/self/statm") as f:
      used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
  except OSError:  # Not Linux: no reliable baseline, so no limit.
    return
  limit = used + memory_limit_mb * 2**20
  resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _worker_main(conn, judge, warmup, memory_limit_mb):
  """Sends ("ready",), then (task_id, outcome, detail) per (task_id, a, b, timeout_s)."""
  global _task_running
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle.
  try:
    signal.signal(signal.SIGALRM, _on_alarm)
    if warmup is not None:
      judge(*warmup)  # Imports and first-call caches, outside any task's timeout.
    _limit_address_space(memory_limit_mb)
  except BaseException:
    conn.send(("failed", traceback.format_exc()))
    return
  conn.send(("ready",))
  while True:
    try:
      message = conn.recv()
    except (EOFError, OSError):
      return
    if message is None:
      return
    task_id, a, b, timeout_s = message
    detail = ""
    try:
      try:
        _task_running = True
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        outcome = judge(a, b)
      finally:
        _task_running = False
        signal.setitimer(signal.ITIMER_REAL, 0)
      if outcome not in (CORRECT, WRONG, UNPARSEABLE):
        outcome, detail = ERROR, f"judge returned {outcome!r}"
    except _SoftTimeout:
      outcome = TIMED_OUT
    except BaseException as e:  # RecursionError, MemoryError, anything the judge raised.
      outcome, detail = ERROR, f"{type(e).__name__}: {str(e)[:200]}"
    conn.send((task_id, outcome, detail))


@dataclasses.dataclass
class _Worker:
  process: multiprocessing.Process
  conn: multiprocessing.connection.Connection
  ready: bool = False
  task: int | None = None  # Index into the current run's tasks.
  task_id: int = -1
  started: float = 0.0


class GradingPool:
  """`num_workers` persistent worker processes running `judge`; see the module docstring.

  Not fork-safe and not re-entrant; calls from several threads are serialised by a lock.
  """

  def __init__(
    self,
    judge: Callable[[str, str], str],
    num_workers: int = 2,
    *,
    warmup: tuple[str, str] | None = None,
    memory_limit_mb: int | None = 4096,
    kill_grace_s: float = 0.5,
    startup_timeout_s: float = 120.0,
    mp_context: str = "spawn",
  ):
    """Creates the pool; start() (or `with`) launches the workers.

    Args:
      judge: `judge(a, b) -> outcome`, a picklable module-level function.
      num_workers: worker processes, each running one task at a time.
      warmup: arguments of one judge call each worker makes before it reports ready.
      memory_limit_mb: address space a worker may grow by after warm-up; None: no cap.
      kill_grace_s: how long past a task's timeout the parent waits before killing its worker.
      startup_timeout_s: how long run() waits for a first worker to be ready.
      mp_context: "spawn" or "forkserver"; never "fork" in a process running JAX threads.
    """
    if num_workers < 1:
      raise ValueError(f"num_workers must be >= 1, got {num_workers}.")
    self.num_workers = num_workers
    self._judge = judge
    self._warmup = warmup
    self._memory_limit_mb = memory_limit_mb
    self._kill_grace_s = kill_grace_s
    self._startup_timeout_s = startup_timeout_s
    self._ctx = multiprocessing.get_context(mp_context)
    self._lock = threading.Lock()
    self._workers: list[_Worker] = []
    self._next_task_id = 0
    self._startup_failures = 0
    self._closed = False
    self.workers_replaced = 0

  def start(self) -> None:
    """Starts missing workers without waiting for them (run() waits for the first one)."""
    if self._closed:
      raise RuntimeError("GradingPool is closed.")
    while len(self._workers) < self.num_workers:
      parent_conn, child_conn = self._ctx.Pipe()
      process = self._ctx.Process(
        target=_worker_main,
        args=(child_conn, self._judge, self._warmup, self._memory_limit_mb),
        name="grading-worker",
        daemon=True,
      )
      process.start()
      child_conn.close()
      self._workers.append(_Worker(process, parent_conn))

  def _remove(self, worker: _Worker, *, kill: bool) -> None:
    if kill and worker.process.is_alive():
      worker.process.kill()
    worker.process.join(timeout=5.0)
    worker.conn.close()
    self._workers.remove(worker)

  def _replace(self, worker: _Worker) -> None:
    self._remove(worker, kill=True)
    self.workers_replaced += 1
    self.start()

  def _handle_message(self, worker: _Worker, outcomes: list) -> None:
    try:
      message = worker.conn.recv()
    except (EOFError, OSError):
      return  # The process sentinel reports the death.
    if message[0] == "ready":
      worker.ready = True
      self._startup_failures = 0
    elif message[0] == "failed":
      self._startup_failures += 1
      logging.error("Grading worker failed to start:\n%s", message[1])
      if self._startup_failures >= _MAX_STARTUP_FAILURES:
        raise RuntimeError(f"Grading workers fail to start:\n{message[1]}")
      self._replace(worker)
    else:
      task_id, outcome, detail = message
      if worker.task is not None and task_id == worker.task_id:
        outcomes[worker.task] = outcome
        if detail:
          logging.warning("Grading task %d: %s", worker.task, detail)
        worker.task = None

  def _wait_until_ready(self) -> None:
    end = time.monotonic() + self._startup_timeout_s
    while not any(w.ready for w in self._workers):
      self.start()
      remaining = end - time.monotonic()
      if remaining <= 0:
        raise RuntimeError(f"No grading worker started within {self._startup_timeout_s} s.")
      self._poll([], remaining, task_timeout_s=math.inf)

  def _poll(self, outcomes: list, timeout: float, *, task_timeout_s: float) -> None:
    """Waits up to `timeout` for messages or deaths, handles them and enforces hard timeouts."""
    by_object = {w.conn: w for w in self._workers}
    by_object.update({w.process.sentinel: w for w in self._workers})
    for obj in wait(list(by_object), timeout=max(0.0, timeout)):
      worker = by_object[obj]
      if worker in self._workers and obj is worker.conn:
        self._handle_message(worker, outcomes)
    self._reap(outcomes, task_timeout_s)

  def run(
    self, tasks: Sequence[tuple[str, str]], *, timeout_s: float, deadline_s: float
  ) -> list[str]:
    """Runs judge(a, b) for every (a, b) in `tasks`; returns one outcome per task, in order.

    timeout_s: per task, counted from when a worker receives it.
    deadline_s: for the whole call, counted from when at least one worker is ready (on the
      first call, workers take about a second to import the judge's dependencies).
    """
    with self._lock:
      if not tasks:
        return []
      self._wait_until_ready()
      deadline = time.monotonic() + deadline_s
      outcomes: list[str | None] = [None] * len(tasks)
      todo = deque(range(len(tasks)))
      while todo or any(w.task is not None for w in self._workers):
        now = time.monotonic()
        if now >= deadline:
          break
        self._dispatch(tasks, todo, timeout_s)
        wake = deadline
        for w in self._workers:
          if w.task is not None:
            wake = min(wake, w.started + timeout_s + self._kill_grace_s)
        self._poll(outcomes, wake - now, task_timeout_s=timeout_s)
      for w in list(self._workers):
        if w.task is not None:
          outcomes[w.task] = TIMED_OUT
          self._replace(w)
      for i in todo:
        outcomes[i] = TIMED_OUT
      return outcomes

  def _dispatch(self, tasks, todo, timeout_s) -> None:
    for w in self._workers:
      if not todo:
        return
      if w.ready and w.task is None and w.process.is_alive():
        i = todo.popleft()
        self._next_task_id += 1
        try:
          w.conn.send((self._next_task_id, *tasks[i], timeout_s))
        except (BrokenPipeError, OSError):
          todo.appendleft(i)  # The worker died; _reap replaces it.
          continue
        w.task, w.task_id, w.started = i, self._next_task_id, time.monotonic()

  def _reap(self, outcomes, task_timeout_s) -> None:
    """Replaces dead workers and kills tasks past their hard timeout."""
    now = time.monotonic()
    for w in list(self._workers):
      if not w.process.is_alive():
        if w.task is not None:
          outcomes[w.task] = ERROR
          logging.warning(
            "Grading worker died (exit code %s) on task %d.", w.process.exitcode, w.task
          )
        elif not w.ready:
          self._startup_failures += 1
          if self._startup_failures >= _MAX_STARTUP_FAILURES:
            raise RuntimeError("Grading workers die before they start (see the log).")
        self._replace(w)
      elif w.task is not None and now > w.started + task_timeout_s + self._kill_grace_s:
        outcomes[w.task] = TIMED_OUT
        self._replace(w)

  def close(self) -> None:
    """Stops every worker. Idempotent."""
    with self._lock:
      self._closed = True
      for w in list(self._workers):
        try:
          w.conn.send(None)
        except (BrokenPipeError, OSError):
          pass
      for w in list(self._workers):
        w.process.join(timeout=1.0)
        self._remove(w, kill=True)

  def __enter__(self) -> GradingPool:
    self.start()
    return self

  def __exit__(self, *exc) -> None:
    self.close()
