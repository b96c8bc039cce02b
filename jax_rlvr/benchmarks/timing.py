"""Timed repeats of one measurement, and the machine's noise during them.

A record's seconds are the median of `repeats` timed calls after compilation and one untimed
warm-up call. The noise is the CPU cores other processes used during each timed region: a region
where others used more than `threshold` cores is timed again, within a budget of `max_retimes` per
measurement; a record whose kept regions are still contended says `contended: true`.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable


def cpu_seconds() -> tuple[float, float] | None:
  """(busy CPU seconds of the whole machine, CPU seconds of this process), or None without /proc.

  Busy = user + nice + system + irq + softirq + steal of /proc/stat (guest time is inside user);
  this process's share is utime + stime of /proc/self/stat, all threads included.
  """
  try:
    with open("/proc/stat") as f:
      fields = f.readline().split()
    with open("/proc/self/stat") as f:
      # The command name (field 2) may contain spaces; the fields after it are space-separated.
      own = f.read().rsplit(")", 1)[1].split()
  except OSError:
    return None
  user, nice, system, _, _, irq, softirq, steal = map(int, fields[1:9])
  tick = os.sysconf("SC_CLK_TCK")
  # utime and stime are fields 14 and 15 of the full line, 12 and 13 after the name.
  return (user + nice + system + irq + softirq + steal) / tick, (int(own[11]) + int(own[12])) / tick


@dataclasses.dataclass(frozen=True)
class Timing:
  """Timed repeats of one measurement.

  seconds: median of `times`, the kept regions (one per repeat).
  others_cores: CPU cores other processes used during each kept region (None without /proc).
  retimes: regions discarded as contended and timed again.
  contended: some kept region still had others above the threshold (the retime budget ran out).
  """

  seconds: float
  times: tuple[float, ...]
  others_cores: tuple[float | None, ...]
  retimes: int
  contended: bool


def time_repeats(
  fn: Callable[[], object],
  repeats: int,
  *,
  threshold: float = 0.2,
  max_retimes: int = 3,
  clock: Callable[[], float] = time.perf_counter,
  cpu: Callable[[], tuple[float, float] | None] = cpu_seconds,
) -> Timing:
  """Times `repeats` calls of `fn` (which must block until its work is done).

  A call during which other processes used more than `threshold` cores is discarded and timed
  again, at most `max_retimes` times over the whole measurement; after that contended calls are
  kept and the result is marked `contended`. The load reading has the kernel tick's resolution
  (10 ms at the usual 100 Hz), so regions much shorter than ~0.1 s read coarsely.
  """
  times, loads, retimes = [], [], 0
  while len(times) < repeats:
    before = cpu()
    start = clock()
    fn()
    elapsed = clock() - start
    after = cpu()
    others = None
    if before is not None and after is not None and elapsed > 0:
      others = max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / elapsed
    if others is not None and others > threshold and retimes < max_retimes:
      retimes += 1
      continue
    times.append(elapsed)
    loads.append(others)
  return Timing(
    seconds=statistics.median(times),
    times=tuple(times),
    others_cores=tuple(loads),
    retimes=retimes,
    contended=any(load is not None and load > threshold for load in loads),
  )


Timer = Callable[[Callable[[], object]], Timing]


def noise(timing: Timing) -> dict:
  """The record fields of the timed regions and the load other processes put on them."""
  loads = [x for x in timing.others_cores if x is not None]
  return {
    "times": list(timing.times),
    # Rounded: the /proc counters resolve 10 ms, so the float residue below that means nothing.
    "others_cores_max": round(max(loads), 3) if loads else None,
    "retimes": timing.retimes,
    "contended": timing.contended,
  }


def record(timing: Timing, *, tokens: int, flops_per_token: float, **fields) -> dict:
  """One measurement as a JSON-ready dict; `tokens` are produced (sampling) or trained per call."""
  return {
    **fields,
    "tokens": tokens,
    "seconds": timing.seconds,
    "tokens_per_s": tokens / timing.seconds,
    "gflops": flops_per_token * tokens / timing.seconds / 1e9,
    **noise(timing),
  }
