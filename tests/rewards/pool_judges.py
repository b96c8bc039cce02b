"""Judges for the grading-pool tests; a module of its own so that worker processes can import it.

`scripted_judge(answer, gold)` misbehaves as `answer` says, else compares the strings.
"""

import ctypes
import os
import resource
import signal
import time

from jax_rlvr.rewards.grading_pool import CORRECT, WRONG


def _recurse(n):
  return _recurse(n + 1) + 1


def scripted_judge(answer: str, gold: str) -> str:
  if answer == "hang":  # Like a hang in C code: SIGALRM blocked, only a kill stops it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(1000)
  elif answer == "loop":  # A Python loop: the worker's soft timeout interrupts it.
    while True:
      pass
  elif answer == "segfault":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # No core file in the working directory.
    ctypes.string_at(0)
  elif answer == "exit":
    os._exit(3)
  elif answer == "recursion":
    _recurse(0)
  elif answer == "memory":
    bytearray(2**31)
  elif answer == "raise":
    raise ValueError("scripted failure")
  elif answer == "bad outcome":
    return "maybe"
  elif answer.startswith("sleep "):
    time.sleep(float(answer.split()[1]))
    answer = gold
  return CORRECT if answer == gold else WRONG


def failing_judge(answer: str, gold: str) -> str:
  """Raises on every call, so a worker that warms up with it never becomes ready."""
  raise RuntimeError("this worker cannot start")
