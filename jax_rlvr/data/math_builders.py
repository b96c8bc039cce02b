"""Real math datasets as TFDS builders (ArrayRecord) over a user's local download; no network.

Each dataset is read from JSONL or Parquet files the user downloaded beforehand, placed anywhere
under `<manual_dir>/<name>/` (local_files finds them, raw_records reads them, math_parsing maps each
record, math_splits de-duplicates and checks each split) and mapped to the 4-field schema of
jax_rlvr.data.builders:

    prompt  the bare problem text (no instruction, no chat template: data.template adds those),
    answer  the gold final answer as a string (what the math verifier compares against),
    source  the dataset name below,
    id      "<name>/<id field of the release>", or "<name>/<split>/<record index>" without one.

    sources = prepare_math("gsm8k", data_dir="/data/tfds", manual_dir="/data/raw")
    sources["test"][0]  # {"prompt": b"Janet's ducks ...", "answer": b"18", ...}

`scripts/prepare_data.py --dataset NAME --manual_dir DIR` prepares one dataset and prints what
was read (math_report: files, rows, problems, duplicates, conflicts, dropped rows by reason, 3
examples).

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

- GSM8K reads the "main" config only: "socratic" has the same questions, reading both would double
  the splits.
- verl-format rows (math_parsing) are accepted for every dataset, e.g. BytedTsinghua-SIA/AIME-2024.
- Over-wide releases: where a record has a year (the `year` field, else the year of an AoPS `url`
  such as ".../2024_AIME_II_Problems/Problem_6"), the AIME / AMC readers keep only their
  benchmark's year (AI-MO/aimo-validation-aime holds AIME 2022-2024, 90 problems;
  AI-MO/aimo-validation-amc AMC 12 2022-2023, 83). A split whose size differs from the benchmark's
  (EXPECTED_SIZES) is read with a warning.

The prepared ArrayRecord files are cached under data_dir/<builder name>/<config>/<version>/; the
config name is a fingerprint of the input files' paths, sizes and modification times, so replacing
a file prepares the dataset again instead of reading stale records.
"""

from __future__ import annotations

import abc
import collections
import os
import re
from collections.abc import Sequence
from typing import Any

import tensorflow_datasets as tfds

from jax_rlvr.data import builders, local_files, math_splits
from jax_rlvr.data.math_parsing import (
  answer_or_boxed,
  is_verl_row,
  normalise_answer,
  parse_verl_row,
)
from jax_rlvr.data.raw_records import RawRecord, read_records

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
      files = local_files.find_files(directory, prefix, cls.EXCLUDE_DIRS)
      if not files:
        skipped = f" (not under {', '.join(cls.EXCLUDE_DIRS)}/)" if cls.EXCLUDE_DIRS else ""
        raise FileNotFoundError(
          f"No {prefix or ''}*.jsonl / {prefix or ''}*.parquet file of {cls.DATASET} "
          f"({split} split) under {directory}{skipped}.\n{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}"
        )
      splits[split] = files
    return splits

  @classmethod
  def _parse_row(cls, record: RawRecord) -> tuple[str, str, bool, tuple[str, ...], bool]:
    """(prompt, normalised answer, instruction stripped, id fields, is a verl row) of a record."""
    verl = is_verl_row(record)
    if verl:
      prompt, answer, stripped = parse_verl_row(record)
      id_fields = ("extra_info.index", *cls.ID_FIELDS)
    else:
      (prompt, answer), stripped, id_fields = cls.parse(record), True, cls.ID_FIELDS
    return prompt, normalise_answer(answer), stripped, id_fields, verl

  @classmethod
  def _problems(
    cls, files: Sequence[str]
  ) -> tuple[dict[str, int], collections.Counter, list[math_splits.Problem]]:
    """({path: rows}, rows dropped by reason, problems in file order) of one split's files.

    A verl row whose prompt was seen before adds a row and an answer to that problem.
    """
    rows_per_file, dropped = {}, collections.Counter()
    problems: list[math_splits.Problem] = []
    verl_index: dict[str, int] = {}  # prompt -> position in `problems` of verl-format rows
    for path in files:
      rows_per_file[path] = 0
      for record in read_records(path):
        rows_per_file[path] += 1
        reason = cls.drop_reason(record)
        if reason:
          dropped[reason] += 1
          continue
        prompt, answer, stripped, id_fields, verl = cls._parse_row(record)
        if verl and prompt in verl_index:
          seen = problems[verl_index[prompt]]
          seen.rows += 1
          seen.answers.add(answer)
          continue
        if verl:
          verl_index[prompt] = len(problems)
        raw_id = record.text(id_fields, required=False)
        problems.append(
          math_splits.Problem(prompt, answer, raw_id, record.where, stripped, answers={answer})
        )
    return rows_per_file, dropped, problems

  @classmethod
  def read_split(cls, files: Sequence[str], split: str) -> math_splits.SplitRead:
    """Reads, filters and de-duplicates the files of one split (see math_splits)."""
    rows_per_file, dropped, problems = cls._problems(files)
    read = math_splits.keep_problems(problems, cls.DATASET, split, rows_per_file, dropped)
    name = f"{cls.DATASET} {split}"
    math_splits.add_warnings(read, name, cls.EXPECTED_SIZES.get(split))
    math_splits.log_read(read, name)
    return read

  @classmethod
  def read(cls, directory: str) -> dict[str, math_splits.SplitRead]:
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
    # Kept on the builder so that math_report does not read a freshly prepared dataset twice.
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


def builder_class(name: str) -> type[LocalMathBuilder]:
  """BUILDERS[name]; a ValueError naming the choices for an unknown name."""
  if name not in BUILDERS:
    raise ValueError(f"Unknown math dataset {name!r}; choose one of {sorted(BUILDERS)}.")
  return BUILDERS[name]


def builder_for_files(name: str, data_dir, manual_dir) -> tuple[LocalMathBuilder, str]:
  """The builder of `name` for the current version of its files, and the files' directory."""
  cls = builder_class(name)
  directory = os.path.join(os.fspath(manual_dir), name)
  files = sorted({path for paths in cls.split_files(directory).values() for path in paths})
  config_name = f"files_{local_files.files_fingerprint(files, directory)}"
  # One object per (builder, name): TFDS refuses an equally named config that is another object.
  key = (cls.name, config_name)
  if key not in _CONFIGS:
    _CONFIGS[key] = tfds.core.BuilderConfig(name=config_name, description=f"Files in {directory}.")
  builder = cls(config=_CONFIGS[key], data_dir=os.fspath(data_dir), file_format="array_record")
  return builder, directory


def download_and_prepare(builder: LocalMathBuilder, directory: str) -> None:
  """Writes the builder's ArrayRecord files from the files in `directory` (once per version)."""
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
  builder, directory = builder_for_files(name, data_dir, manual_dir)
  download_and_prepare(builder, directory)
  return builder.as_data_source()
