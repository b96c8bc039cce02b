"""Real math datasets as TFDS builders (ArrayRecord) over a user's local download; no network.

Each dataset is read from JSONL or Parquet files the user downloaded beforehand, placed anywhere
under `<manual_dir>/<name>/` (a Hugging Face snapshot folder works as it is: sub-folders such as
`data/`, `main/` or `part1/` are walked, hidden ones such as `.cache/` skipped), validated record
by record (a malformed record raises MalformedRecordError naming the file and line / row) and
mapped to the 4-field schema of jax_rlvr.data.builders:

    prompt  the bare problem text (no instruction, no chat template: data.template adds those),
    answer  the gold final answer as a string (what the math verifier compares against),
    source  the dataset name below,
    id      "<name>/<id field of the release>", or "<name>/<split>/<record index>" without one.

    sources = prepare_math("gsm8k", data_dir="/data/tfds", manual_dir="/data/raw")
    sources["test"][0]  # {"prompt": b"Janet's ducks ...", "answer": b"18", ...}

`scripts/prepare_data.py --dataset NAME --manual_dir DIR` prepares one dataset and prints what
was read (files, rows, problems, duplicates, conflicts, dropped rows by reason, 3 examples).

Files and fields (names of the public Hugging Face releases as far as we know them; alternatives
listed with "|" are accepted, the first present wins):

  name           splits       files under <manual_dir>/<name>/   fields read
  dapo_math_17k  train        every *.jsonl / *.parquet          prompt (chat list: content of the
                                                                  last "user" turn; or a str),
                                                                  reward_model.ground_truth,
                                                                  extra_info.index (id, optional)
  math_500       test         every *.jsonl / *.parquet          problem, answer, unique_id
  aime_2024      test         every *.jsonl / *.parquet          problem|Problem|question,
                                                                  answer|Answer, id|ID, year, url
  aime_2025      test         every *.jsonl / *.parquet          same as aime_2024
  amc_2023       test         every *.jsonl / *.parquet          same as aime_2024
  minerva_math   test         every *.jsonl / *.parquet          problem|question, answer, id|idx
  gsm8k          train, test  files with a path component        question, answer ("... #### N":
                              train* / test*, not under           N without "," is the gold)
                              socratic/

Rules shared by every dataset, with the releases they come from:
- Splits are matched on any component of the path below <name>/ ("train.jsonl",
  "main/train-00000-of-00001.parquet", the auto-converted "main/train/0000.parquet"). GSM8K reads
  the "main" config only: "socratic" has the same questions, reading both would double the splits.
- Without an answer field, the answer is the last \\boxed{} of solution|Solution (math-ai/aime24
  has problem, solution, url only). All-digit answers lose their leading zeros (AIME "055" -> "55");
  numbers (AMC releases with float answers such as 27.0) become strings, integral floats without
  the ".0".
- Over-wide releases: where a record has a year (the `year` field, else the year of an AoPS `url`
  such as ".../2024_AIME_II_Problems/Problem_6"), the AIME / AMC readers keep only their
  benchmark's year (AI-MO/aimo-validation-aime holds AIME 2022-2024, 90 problems;
  AI-MO/aimo-validation-amc AMC 12 2022-2023, 83). A split whose size differs from the benchmark's
  (EXPECTED_SIZES) is read with a warning.
- verl-format rows (`prompt` as chat messages, `reward_model.ground_truth`, the row format of
  DAPO-Math-17k) are accepted for every dataset, e.g. BytedTsinghua-SIA/AIME-2024, the validation
  file of verl's DAPO recipe, which repeats each problem 32 times. Such rows are de-duplicated by
  prompt: repeats with the same answer are dropped, prompts seen with two different answers are
  dropped entirely. The DAPO instruction ("Solve the following math problem step by step. The last
  line ... Answer: $Answer ..." / "Remember to put your answer on its own line after
  \\"Answer:\\".") is stripped when exactly that prefix and suffix are present, so that
  data.template decides the answer format; prompts without them are kept whole, counted and logged
  (DAPO-Math-17k's ~3.3k Chinese prompts may carry another instruction).
- DAPO-Math-17k (BytedTsinghua-SIA/DAPO-Math-17k, data/dapo-math-17k.parquet) has 1,791,700 rows,
  each problem repeated 100 times: 17,398 problems by prompt, a few of them with conflicting
  answers (reported in the release's discussions). Rows, problems, duplicates, conflicts and
  un-stripped prompts are logged when a split is prepared.
- Files are read in the sorted order of their paths (AIME 2025's part I before part II); blank
  JSONL lines are skipped. Ids must be unique within a split.

The prepared ArrayRecord files are cached under data_dir/<builder name>/<config>/<version>/; the
config name is a fingerprint of the input files' paths, sizes and modification times, so replacing
a file prepares the dataset again instead of reading stale records.
"""

from __future__ import annotations

import abc
import collections
import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import tensorflow_datasets as tfds
from absl import logging

from jax_rlvr.data import builders
from jax_rlvr.rewards import extraction

DATA_SUFFIXES = (".jsonl", ".parquet")


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
    raise ValueError(f"Unsupported file {path}; use one of {DATA_SUFFIXES}.")


def _matches_split(relative_path: str, prefix: str) -> bool:
  """Whether a component of `relative_path` names the split (whole, or followed by - _ .)."""
  if not prefix:
    return True
  pattern = re.compile(re.escape(prefix) + r"(?:$|[-_.])")
  return any(pattern.match(part) for part in relative_path.split(os.sep))


def find_files(directory: str, prefix: str = "", exclude_dirs: Sequence[str] = ()) -> list[str]:
  """Data files anywhere under `directory` of the split `prefix` ("" = all), sorted by path.

  Hidden folders (a snapshot's .cache/) and folders named in `exclude_dirs` are not entered.
  """
  found = []
  for root, dirs, names in os.walk(directory):
    dirs[:] = [d for d in dirs if not d.startswith(".") and d not in exclude_dirs]
    for name in names:
      path = os.path.join(root, name)
      if name.endswith(DATA_SUFFIXES) and _matches_split(os.path.relpath(path, directory), prefix):
        found.append(path)
  return sorted(found)


def normalise_answer(answer: str) -> str:
  """All-digit answers without leading zeros (AIME's "055" -> "55"); anything else unchanged."""
  return str(int(answer)) if re.fullmatch(r"[0-9]+", answer) else answer


def answer_or_boxed(
  record: RawRecord,
  answer_fields: Sequence[str] = ("answer", "Answer"),
  solution_fields: Sequence[str] = ("solution", "Solution"),
) -> str:
  """The answer field, else the last \\boxed{} of the solution field; fails without either."""
  answer = record.text(answer_fields, required=False)
  if answer is None:
    solution = record.text(solution_fields, required=False)
    # The same parser as the grader's, so a gold answer and a response are read alike.
    answer = (extraction.last_boxed(solution) or "").strip() if solution else None
    if not answer:
      record.fail(
        f"no {' | '.join(answer_fields)} field and no \\boxed{{...}} in a "
        f"{' | '.join(solution_fields)} field."
      )
  return answer


_DAPO_PREFIX = (
  "Solve the following math problem step by step. The last line of your response should be of "
  "the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
)
_DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'


def is_verl_row(record: RawRecord) -> bool:
  """Whether the record has the verl / DAPO row format (prompt + reward_model.ground_truth)."""
  return "prompt" in record.fields and isinstance(record.fields.get("reward_model"), dict)


def parse_verl_row(record: RawRecord) -> tuple[str, str, bool]:
  """(problem, answer, whether the DAPO instruction was stripped) of a verl-format row."""
  _, prompt = record.first(("prompt",))
  if isinstance(prompt, list):
    turns = [t for t in prompt if isinstance(t, dict) and t.get("role") == "user"]
    if not turns:
      record.fail("field prompt is a list without a {'role': 'user', 'content': ...} turn.")
    prompt = turns[-1].get("content")
  if not isinstance(prompt, str) or not prompt.strip():
    record.fail("field prompt has no user text.")
  stripped = prompt.startswith(_DAPO_PREFIX) and prompt.endswith(_DAPO_SUFFIX)
  if stripped:
    prompt = prompt[len(_DAPO_PREFIX) : -len(_DAPO_SUFFIX)]
  return prompt.strip(), record.text(("reward_model.ground_truth",)), stripped


# Reasons a row is not kept, as reports and logs name them.
DUPLICATE = "duplicate prompt, same answer"
CONFLICT = "prompt with conflicting answers"


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


@dataclasses.dataclass
class _Problem:
  prompt: str
  answer: str
  raw_id: str | None
  where: str
  stripped: bool
  rows: int = 1
  answers: set[str] = dataclasses.field(default_factory=set)


_CONFIGS: dict[tuple[str, str], tfds.core.BuilderConfig] = {}


class LocalMathBuilder(tfds.core.GeneratorBasedBuilder, abc.ABC):
  """Base of the local math dataset builders.

  Subclasses set DATASET (the user-facing name, also the subdirectory of manual_dir), SPLITS
  ({split: path component naming it}; "" takes every data file), EXPECTED_SIZES ({split: number
  of problems of the benchmark}) and implement `parse`; `drop_reason` may skip rows.
  """

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
    "1.0.0": "Initial release.",
    "1.1.0": "Sub-folders, verl-format rows, de-duplication with conflict removal, year filter, "
    "answers from \\boxed{} solutions, all-digit answers without leading zeros.",
  }
  DATASET: str
  SPLITS: dict[str, str] = {"test": ""}
  EXCLUDE_DIRS: tuple[str, ...] = ()
  EXPECTED_SIZES: dict[str, int] = {}
  ID_FIELDS: tuple[str, ...] = ("id",)

  @classmethod
  @abc.abstractmethod
  def parse(cls, record: RawRecord) -> tuple[str, str]:
    """(prompt, answer) of one record in the release's own format; record.fail(...) if it can't."""

  @classmethod
  def drop_reason(cls, record: RawRecord) -> str | None:
    """Why a well-formed record is not part of this dataset, or None to keep it."""
    del record
    return None

  @classmethod
  def split_files(cls, directory: str) -> dict[str, list[str]]:
    """{split: its data files under `directory`}; raises FileNotFoundError for an empty split."""
    splits = {}
    for split, prefix in cls.SPLITS.items():
      files = find_files(directory, prefix, cls.EXCLUDE_DIRS)
      if not files:
        skipped = f" (not under {', '.join(cls.EXCLUDE_DIRS)}/)" if cls.EXCLUDE_DIRS else ""
        raise FileNotFoundError(
          f"No {prefix or ''}*.jsonl / {prefix or ''}*.parquet file of {cls.DATASET} "
          f"({split} split) under {directory}{skipped}.\n{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}"
        )
      splits[split] = files
    return splits

  @classmethod
  def read_split(cls, files: Sequence[str], split: str) -> SplitRead:
    """Reads, filters and de-duplicates the files of one split (see the module docstring)."""
    rows_per_file, dropped = {}, collections.Counter()
    problems: list[_Problem] = []
    verl_index: dict[str, int] = {}  # prompt -> position in `problems` of verl-format rows
    for path in files:
      rows_per_file[path] = 0
      for record in read_records(path):
        rows_per_file[path] += 1
        reason = cls.drop_reason(record)
        if reason:
          dropped[reason] += 1
          continue
        verl = is_verl_row(record)
        if verl:
          prompt, answer, stripped = parse_verl_row(record)
          id_fields = ("extra_info.index", *cls.ID_FIELDS)
        else:
          (prompt, answer), stripped, id_fields = cls.parse(record), True, cls.ID_FIELDS
        answer = normalise_answer(answer)
        if verl and prompt in verl_index:
          seen = problems[verl_index[prompt]]
          seen.rows += 1
          seen.answers.add(answer)
          continue
        if verl:
          verl_index[prompt] = len(problems)
        raw_id = record.text(id_fields, required=False)
        problems.append(_Problem(prompt, answer, raw_id, record.where, stripped, answers={answer}))

    read = SplitRead(files=rows_per_file, records=[], dropped=dropped)
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
      record_id = f"{cls.DATASET}/{problem.raw_id if problem.raw_id else f'{split}/{index}'}"
      if record_id in seen_ids:
        raise MalformedRecordError(
          f"{problem.where}: id {record_id!r} repeats the record at {seen_ids[record_id]}."
        )
      seen_ids[record_id] = problem.where
      read.records.append(
        {"prompt": problem.prompt, "answer": problem.answer, "source": cls.DATASET, "id": record_id}
      )

    name = f"{cls.DATASET} {split}"
    expected = cls.EXPECTED_SIZES.get(split)
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
    logging.info(
      "%s: %d files, %d rows, %d problems, %d duplicates, %d conflicts, %d un-stripped prompts, "
      "dropped %s.",
      name,
      len(files),
      read.rows,
      read.problems,
      read.duplicates,
      read.conflicts,
      read.unstripped,
      dict(dropped),
    )
    for warning in read.warnings:
      logging.warning("%s", warning)
    return read

  @classmethod
  def read(cls, directory: str) -> dict[str, SplitRead]:
    """{split: SplitRead} of the dataset's files under `directory`."""
    return {
      split: cls.read_split(files, split) for split, files in cls.split_files(directory).items()
    }

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
      builder=self,
      description=type(self).__doc__,
      features=builders.text_features(),
      disable_shuffling=True,  # file order: eval.num_prompts takes a benchmark's first problems
    )

  def _split_generators(self, dl_manager):
    # Kept on the builder so that prepare_report does not read a freshly prepared dataset twice.
    self.reads = self.read(os.fspath(dl_manager.manual_dir))
    return {split: self._generate_examples(read.records) for split, read in self.reads.items()}

  def _generate_examples(self, records: list[dict[str, str]]):
    yield from enumerate(records)


def _instructions(files: str, fields: str) -> str:
  return (
    f"Place {files} anywhere under <manual_dir>/<dataset name>/ (a snapshot folder as it is). "
    f"Fields read: {fields}."
  )


_VERL_FIELDS = "or verl rows: prompt (chat list), reward_model.ground_truth, extra_info.index"


class LocalDapoMath17k(LocalMathBuilder):
  """DAPO-Math-17k (BytedTsinghua-SIA): the paper's training set, one record per problem."""

  name = "local_dapo_math_17k"
  DATASET = "dapo_math_17k"
  SPLITS = {"train": ""}
  ID_FIELDS = ("extra_info.index",)
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "data/dapo-math-17k.parquet (or JSONL with the same fields)",
    "prompt (list of {role, content}: the last user turn; or a string), "
    "reward_model.ground_truth, extra_info.index",
  )

  @classmethod
  def parse(cls, record):
    # Every row of the release is a verl row; anything else lacks reward_model.
    record.fail(f"missing field reward_model (has: {sorted(record.fields)}).")


class LocalMath500(LocalMathBuilder):
  """MATH-500 (HuggingFaceH4/MATH-500): 500 MATH test problems chosen by PRM800K."""

  name = "local_math_500"
  DATASET = "math_500"
  EXPECTED_SIZES = {"test": 500}
  ID_FIELDS = ("unique_id",)
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "test.jsonl",
    f"problem, answer (else the last \\boxed{{}} of solution), unique_id; {_VERL_FIELDS}",
  )

  @classmethod
  def parse(cls, record):
    return record.text(("problem",)), answer_or_boxed(record)


_AOPS_YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})_(?:AIME|AMC)")


class _CompetitionBuilder(LocalMathBuilder, skip_registration=True):
  """AIME / AMC style: a problem and a short (usually integer) answer, from one YEAR."""

  PROMPT_FIELDS = ("problem", "Problem", "question")
  ANSWER_FIELDS = ("answer", "Answer")
  ID_FIELDS = ("id", "ID")
  YEAR: int

  @classmethod
  def parse(cls, record):
    return record.text(cls.PROMPT_FIELDS), answer_or_boxed(record, cls.ANSWER_FIELDS)

  @classmethod
  def drop_reason(cls, record):
    year = record.text(("year", "Year"), required=False)
    if year is None:
      url = record.text(("url",), required=False)
      match = _AOPS_YEAR.search(url) if url else None
      year = match.group(1) if match else None
    if year is not None and year != str(cls.YEAR):
      return f"year {year}, not {cls.YEAR}"
    return None


# The fields the competition builders read, as their instructions name them.
_COMPETITION_FIELDS = (
  ", ".join(
    "|".join(names)
    for names in (
      _CompetitionBuilder.PROMPT_FIELDS,
      _CompetitionBuilder.ANSWER_FIELDS,
      _CompetitionBuilder.ID_FIELDS,
    )
  )
  + f" (answer else the last \\boxed{{}} of solution; year|url keep one year); {_VERL_FIELDS}"
)


class LocalAime2024(_CompetitionBuilder):
  """AIME 2024, parts I and II (30 problems; e.g. HuggingFaceH4/aime_2024)."""

  name = "local_aime_2024"
  DATASET = "aime_2024"
  YEAR = 2024
  EXPECTED_SIZES = {"test": 30}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "the release's .parquet or .jsonl files", _COMPETITION_FIELDS
  )


class LocalAime2025(_CompetitionBuilder):
  """AIME 2025, parts I and II (30 problems; e.g. opencompass/AIME2025, yentinglin/aime_2025)."""

  name = "local_aime_2025"
  DATASET = "aime_2025"
  YEAR = 2025
  EXPECTED_SIZES = {"test": 30}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "the release's files (e.g. aime2025-I.jsonl and aime2025-II.jsonl)",
    _COMPETITION_FIELDS,
  )


class LocalAmc2023(_CompetitionBuilder):
  """AMC 2023 (40 problems with numeric answers; e.g. math-ai/amc23)."""

  name = "local_amc_2023"
  DATASET = "amc_2023"
  YEAR = 2023
  EXPECTED_SIZES = {"test": 40}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "the release's .jsonl or .parquet files", _COMPETITION_FIELDS
  )


class LocalMinervaMath(LocalMathBuilder):
  """Minerva Math (OCWCourses, 272 problems; e.g. the Qwen2.5-Math evaluation's test.jsonl)."""

  name = "local_minerva_math"
  DATASET = "minerva_math"
  EXPECTED_SIZES = {"test": 272}
  ID_FIELDS = ("id", "idx", "unique_id")
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "test.jsonl (or knoveleng/Minerva-Math's data/*.parquet)",
    f"problem|question, answer (else the last \\boxed{{}} of solution), id|idx; {_VERL_FIELDS}",
  )

  @classmethod
  def parse(cls, record):
    return record.text(("problem", "question")), answer_or_boxed(record)


_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.DOTALL)


class LocalGsm8k(LocalMathBuilder):
  """GSM8K (openai/gsm8k, "main"): grade-school word problems; the gold follows "####"."""

  name = "local_gsm8k"
  DATASET = "gsm8k"
  SPLITS = {"train": "train", "test": "test"}
  EXCLUDE_DIRS = ("socratic",)
  EXPECTED_SIZES = {"train": 7473, "test": 1319}
  ID_FIELDS = ()
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "train.jsonl and test.jsonl (or the snapshot's main/train-*.parquet / main/test-*.parquet)",
    f'question, answer (a worked solution ending in "#### N"); {_VERL_FIELDS}',
  )

  @classmethod
  def parse(cls, record):
    solution = record.text(("answer",))
    match = _GSM8K_ANSWER.search(solution)
    if not match:
      record.fail('field answer does not end in "#### <number>".')
    return record.text(("question",)), match.group(1).replace(",", "")


BUILDERS: dict[str, type[LocalMathBuilder]] = {
  cls.DATASET: cls
  for cls in (
    LocalDapoMath17k,
    LocalMath500,
    LocalAime2024,
    LocalAime2025,
    LocalAmc2023,
    LocalMinervaMath,
    LocalGsm8k,
  )
}


def files_fingerprint(paths: Sequence[str], root: str = "") -> str:
  """A short hash of the files' paths (relative to `root`), sizes and modification times."""
  digest = hashlib.sha256()
  for path in sorted(paths):
    stat = os.stat(path)
    name = os.path.relpath(path, root) if root else os.path.basename(path)
    digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
  return digest.hexdigest()[:16]


def _builder(name: str, data_dir, manual_dir) -> tuple[LocalMathBuilder, str]:
  """The builder of `name` for the current version of its files, and the files' directory."""
  if name not in BUILDERS:
    raise ValueError(f"Unknown math dataset {name!r}; choose one of {sorted(BUILDERS)}.")
  cls = BUILDERS[name]
  directory = os.path.join(os.fspath(manual_dir), name)
  files = sorted({path for paths in cls.split_files(directory).values() for path in paths})
  config_name = f"files_{files_fingerprint(files, directory)}"
  # One object per (builder, name): TFDS refuses an equally named config that is another object.
  key = (cls.name, config_name)
  if key not in _CONFIGS:
    _CONFIGS[key] = tfds.core.BuilderConfig(name=config_name, description=f"Files in {directory}.")
  builder = cls(config=_CONFIGS[key], data_dir=os.fspath(data_dir), file_format="array_record")
  return builder, directory


def _download_and_prepare(builder: LocalMathBuilder, directory: str) -> None:
  tfds.disable_progress_bar()
  builder.download_and_prepare(
    file_format="array_record",
    download_config=tfds.download.DownloadConfig(manual_dir=directory, try_download_gcs=False),
  )


def prepare_math(
  name: str, data_dir: str | os.PathLike, manual_dir: str | os.PathLike
) -> dict[str, Any]:
  """Prepares (once per version of the files) and opens a local math dataset.

  Args:
    name: one of BUILDERS (dapo_math_17k, math_500, aime_2024, aime_2025, amc_2023,
      minerva_math, gsm8k).
    data_dir: where the ArrayRecord files go (data_dir/local_<name>/files_<fingerprint>/1.1.0/).
    manual_dir: the root of the user's downloads; this dataset's files are under manual_dir/<name>/.

  Returns:
    {split: random-access source of dicts of bytes with builders.FEATURE_NAMES}; the splits are
    the builder's SPLITS ("test" for the benchmarks, "train" for DAPO-Math-17k, both for GSM8K).
  """
  builder, directory = _builder(name, data_dir, manual_dir)
  _download_and_prepare(builder, directory)
  return builder.as_data_source()


def prepare_report(
  name: str, manual_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None
) -> dict[str, SplitRead]:
  """Reads one dataset and, with a `data_dir`, prepares its ArrayRecord files as prepare_math does.

  Returns:
    {split: SplitRead}: the files and their rows, the kept problems, the rows dropped by reason,
    the conflicts, the un-stripped prompts and the warnings (format_report prints them).
  """
  if data_dir is None:
    if name not in BUILDERS:
      raise ValueError(f"Unknown math dataset {name!r}; choose one of {sorted(BUILDERS)}.")
    return BUILDERS[name].read(os.path.join(os.fspath(manual_dir), name))
  builder, directory = _builder(name, data_dir, manual_dir)
  _download_and_prepare(builder, directory)
  # An already prepared dataset is not generated again: read its files for the report.
  return getattr(builder, "reads", None) or builder.read(directory)


def format_report(name: str, reads: dict[str, SplitRead], directory: str, examples: int = 3) -> str:
  """A plain-text summary of prepare_report's result; paths relative to `directory`."""
  lines = []
  for split, read in reads.items():
    lines.append(f"{name} {split}:")
    lines.append(f"  files ({len(read.files)}):")
    lines += [f"    {os.path.relpath(p, directory)}: {n} rows" for p, n in read.files.items()]
    lines.append(
      f"  rows {read.rows}, problems {read.problems}, duplicates {read.duplicates}, "
      f"conflicts {read.conflicts}, prompts without the DAPO instruction {read.unstripped}"
    )
    lines.append("  dropped rows:" + ("" if read.dropped else " none"))
    lines += [f"    {reason}: {n}" for reason, n in sorted(read.dropped.items())]
    lines += [f"  warning: {warning}" for warning in read.warnings]
    lines.append(f"  first {min(examples, read.problems)} problems:")
    for record in read.records[:examples]:
      prompt = record["prompt"] if len(record["prompt"]) <= 200 else record["prompt"][:200] + "..."
      lines.append(f"    {record['id']}: {prompt!r} -> {record['answer']!r}")
  return "\n".join(lines)
