"""The records of one local JSONL or Parquet file, with where each came from for error messages.

A record that cannot be read, or that lacks a field a reader asks for, raises MalformedRecordError
naming the file and the line (JSONL) or row (Parquet). Blank JSONL lines are skipped.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

from jax_rlvr.data import local_files


class MalformedRecordError(ValueError):
  """A record of a local dataset file that cannot be mapped to the schema (names file and line)."""


@dataclasses.dataclass(frozen=True)
class RawRecord:
  """One decoded record and where it came from, for error messages."""

  fields: dict[str, Any]
  path: str
  line: int  # 1-based JSONL line or Parquet row

  @property
  def where(self) -> str:
    unit = "row" if self.path.endswith(".parquet") else "line"
    return f"{self.path} {unit} {self.line}"

  def fail(self, problem: str):
    raise MalformedRecordError(f"{self.where}: {problem}")

  def first(self, names: Sequence[str], *, required: bool = True) -> tuple[str, Any]:
    """(name, value) of the first of `names` present and not None; dotted names reach into dicts.

    Without such a field: raises if `required`, else returns ("", None).
    """
    for name in names:
      value = self.fields
      for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
      if value is not None:
        return name, value
    if required:
      self.fail(f"missing field {' | '.join(names)} (has: {sorted(self.fields)}).")
    return "", None

  def text(self, names: Sequence[str], *, required: bool = True) -> str | None:
    """Like `first`, as a non-empty stripped string; numbers are formatted (27.0 -> "27")."""
    name, value = self.first(names, required=required)
    if value is None:
      return None
    if isinstance(value, bool):
      self.fail(f"field {name} is a bool ({value}), expected text or a number.")
    if isinstance(value, float):
      if not math.isfinite(value):
        self.fail(f"field {name} is {value}.")
      value = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, int):
      value = str(value)
    if not isinstance(value, str):
      self.fail(f"field {name} has type {type(value).__name__}, expected text or a number.")
    value = value.strip()
    if not value:
      self.fail(f"field {name} is empty.")
    return value


def read_records(path: str) -> Iterator[RawRecord]:
  """Records of one .jsonl or .parquet file, in file order."""
  if path.endswith(".jsonl"):
    with open(path, encoding="utf-8") as f:
      for line_number, line in enumerate(f, start=1):
        if not line.strip():
          continue
        try:
          fields = json.loads(line)
        except json.JSONDecodeError as e:
          raise MalformedRecordError(f"{path} line {line_number}: invalid JSON ({e}).") from e
        if not isinstance(fields, dict):
          raise MalformedRecordError(
            f"{path} line {line_number}: expected a JSON object, got {type(fields).__name__}."
          )
        yield RawRecord(fields, path, line_number)
  elif path.endswith(".parquet"):
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
      for fields in batch.to_pylist():
        row += 1
        yield RawRecord(fields, path, row)
  else:
    raise ValueError(f"Unsupported file {path}; use one of {local_files.DATA_SUFFIXES}.")
