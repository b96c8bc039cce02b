"""One split of a local math dataset: its problems de-duplicated, given ids, counted and checked.

- verl-format rows (math_parsing) are de-duplicated by prompt: repeats with the same answer are
  dropped, prompts seen with two different answers are dropped entirely. DAPO-Math-17k
  (BytedTsinghua-SIA/DAPO-Math-17k, data/dapo-math-17k.parquet) has 1,791,700 rows, each problem
  repeated 100 times: 17,398 problems by prompt, a few of them with conflicting answers (reported
  in the release's discussions); BytedTsinghua-SIA/AIME-2024, the validation file of verl's DAPO
  recipe, repeats each problem 32 times.
- Ids are "<dataset>/<id field of the release>", or "<dataset>/<split>/<record index>" without
  one, and must be unique within a split.
- A split whose size differs from the benchmark's is kept with a warning. Rows, problems,
  duplicates, conflicts and un-stripped prompts are logged when a split is read.
"""

import collections
import dataclasses

from absl import logging

from jax_rlvr.data.raw_records import MalformedRecordError

# Reasons a row is not kept, as reports and logs name them.
DUPLICATE = "duplicate prompt, same answer"
CONFLICT = "prompt with conflicting answers"


@dataclasses.dataclass
class Problem:
  """One problem as read, before de-duplication; verl rows with its prompt add rows / answers."""

  prompt: str
  answer: str
  raw_id: str | None
  where: str
  stripped: bool
  rows: int = 1
  answers: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class SplitRead:
  """The records of one split and what reading its files found.

  rows: records read (every file, blank JSONL lines excluded), {path: rows} in `files`.
  records: the kept problems, as dicts of the 4-field schema, in file order.
  dropped: rows not kept, by reason (DUPLICATE, CONFLICT, another year, ...).
  conflicts: prompts dropped because their rows give different answers.
  unstripped: kept verl-format problems whose prompt lacked the DAPO instruction.
  warnings: what a user should look at (also logged).
  """

  files: dict[str, int]
  records: list[dict[str, str]]
  dropped: collections.Counter
  conflicts: int = 0
  unstripped: int = 0
  warnings: list[str] = dataclasses.field(default_factory=list)

  @property
  def rows(self) -> int:
    return sum(self.files.values())

  @property
  def problems(self) -> int:
    return len(self.records)

  @property
  def duplicates(self) -> int:
    return self.dropped[DUPLICATE]


def keep_problems(
  problems: list[Problem],
  dataset: str,
  split: str,
  files: dict[str, int],
  dropped: collections.Counter,
) -> SplitRead:
  """The problems without conflicts as 4-field records with unique ids; counts into `dropped`.

  Raises MalformedRecordError naming both places when two problems get the same id.
  """
  read = SplitRead(files=files, records=[], dropped=dropped)
  seen_ids = {}
  for problem in problems:
    if len(problem.answers) > 1:
      read.conflicts += 1
      dropped[CONFLICT] += problem.rows
      continue
    if problem.rows > 1:
      dropped[DUPLICATE] += problem.rows - 1
    read.unstripped += not problem.stripped
    index = len(read.records)
    record_id = f"{dataset}/{problem.raw_id if problem.raw_id else f'{split}/{index}'}"
    if record_id in seen_ids:
      raise MalformedRecordError(
        f"{problem.where}: id {record_id!r} repeats the record at {seen_ids[record_id]}."
      )
    seen_ids[record_id] = problem.where
    read.records.append(
      {"prompt": problem.prompt, "answer": problem.answer, "source": dataset, "id": record_id}
    )
  return read


def add_warnings(read: SplitRead, name: str, expected: int | None) -> None:
  """Appends to read.warnings what a user should check; `expected`: the benchmark's size."""
  if expected is not None and read.problems != expected:
    read.warnings.append(
      f"{name}: {read.problems} problems, the benchmark has {expected}; check that the files "
      "are the benchmark's (the report of scripts/prepare_data.py lists them)."
    )
  if read.unstripped:
    read.warnings.append(
      f"{name}: {read.unstripped} verl-format prompts lack the DAPO instruction and are kept "
      "whole; data.template is applied on top of whatever instruction they carry."
    )
  if read.conflicts:
    read.warnings.append(
      f"{name}: {read.conflicts} prompts appear with different answers and were dropped."
    )


def log_read(read: SplitRead, name: str) -> None:
  """The counts at info level, each warning at warning level."""
  logging.info(
    "%s: %d files, %d rows, %d problems, %d duplicates, %d conflicts, %d un-stripped prompts, "
    "dropped %s.",
    name,
    len(read.files),
    read.rows,
    read.problems,
    read.duplicates,
    read.conflicts,
    read.unstripped,
    dict(read.dropped),
  )
  for warning in read.warnings:
    logging.warning("%s", warning)
