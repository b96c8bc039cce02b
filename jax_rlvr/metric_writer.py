"""Writes scalar metrics to `workdir/<name>.jsonl` (one JSON object per step) and TensorBoard."""

from __future__ import annotations

import json
import math
import os

import numpy as np


def _to_python(value):
  value = np.asarray(value).item() if hasattr(value, "shape") else value
  if isinstance(value, float) and not math.isfinite(value):
    return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
  return value


class MetricWriter:
  """Appends to `workdir/{name}.jsonl` and writes TensorBoard events to `workdir/tb`.

  On resume, lines of steps at or after `truncate_from` are dropped first, so a run that was
  interrupted after logging but before checkpointing does not log those steps twice.
  """

  def __init__(
    self,
    workdir: str,
    name: str = "metrics",
    *,
    enabled: bool = True,
    truncate_from: int | None = None,
  ):
    self.enabled = enabled
    self.path = os.path.join(workdir, f"{name}.jsonl")
    self._tb = None
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    if truncate_from is not None and os.path.exists(self.path):
      kept = [line for line in read_jsonl(self.path) if line.get("step", -1) < truncate_from]
      with open(self.path, "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in kept)
    from tensorboardX import SummaryWriter  # imported lazily: optional at analysis time

    self._tb = SummaryWriter(os.path.join(workdir, "tb"), filename_suffix=f".{name}")
    self._name = name

  def write(self, step: int, metrics: dict):
    if not self.enabled:
      return
    record = {"step": int(step), **{k: _to_python(v) for k, v in metrics.items()}}
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    for key, value in record.items():
      if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
        self._tb.add_scalar(f"{self._name}/{key}", value, int(step))

  def close(self):
    if self._tb is not None:
      self._tb.close()


def read_jsonl(path: str) -> list[dict]:
  """All records of a .jsonl file; a torn last line (a crash mid-write) is skipped."""
  records = []
  if not os.path.exists(path):
    return records
  with open(path) as f:
    for line in f:
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:
        continue
  return records


def read_rl_records(workdir: str) -> list[dict]:
  """The GRPO steps' records of a run's metrics.jsonl (`phase` "rl"; the warm-up's left out)."""
  records = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  return [r for r in records if r.get("phase") == "rl"]
