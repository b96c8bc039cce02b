"""Real math datasets as TFDS builders (ArrayRecord) over a user's local download; no network.

Each dataset is read from JSONL or Parquet files the user downloaded beforehand, placed in
`<manual_dir>/<name>/`, validated record by record (a malformed record raises MalformedRecordError
naming the file and line / row) and mapped to the 4-field schema of jax_rlvr.data.builders:

    prompt  the bare problem text (no instruction, no chat template: data.template adds those),
    answer  the gold final answer as a string (what the math verifier compares against),
    source  the dataset name below,
    id      "<name>/<id field of the release>", or "<name>/<split>/<record index>" without one.

    sources = prepare_math("gsm8k", data_dir="/data/tfds", manual_dir="/data/raw")
    sources["test"][0]  # {"prompt": b"Janet's ducks ...", "answer": b"18", ...}

Files and fields (names of the public Hugging Face releases as far as we know them; alternatives
listed with "|" are accepted, the first present wins):

  name           splits       files in <manual_dir>/<name>/       fields read
  dapo_math_17k  train        *.jsonl / *.parquet (all of them)   prompt (chat list: content of the
                                                                  last "user" turn; or a str),
                                                                  reward_model.ground_truth,
                                                                  extra_info.index (id, optional)
  math_500       test         *.jsonl / *.parquet                 problem, answer, unique_id
  aime_2024      test         *.jsonl / *.parquet                 problem|Problem|question,
                                                                  answer|Answer, id|ID
  aime_2025      test         *.jsonl / *.parquet                 same as aime_2024
  amc_2023       test         *.jsonl / *.parquet                 same as aime_2024
  minerva_math   test         *.jsonl / *.parquet                 problem|question, answer (else
                                                                  the last \\boxed{} of solution),
                                                                  id|idx|unique_id
  gsm8k          train, test  train*.{jsonl,parquet},             question, answer ("... #### N":
                              test*.{jsonl,parquet}               N without "," is the gold)

Assumptions, with the releases they come from:
- DAPO-Math-17k (BytedTsinghua-SIA/DAPO-Math-17k, data/dapo-math-17k.parquet) repeats each of its
  ~17.9k problems many times (~1.79M rows); records with an already seen prompt are dropped, so the
  train split has one record per problem. Its prompt wraps the problem in DAPO's instruction
  ("Solve the following math problem step by step. The last line ... Answer: $Answer ..." /
  "Remember to put your answer on its own line after \\"Answer:\\"."); when exactly that prefix and
  suffix are present they are stripped, so that data.template decides the answer format. A prompt
  without them is kept whole.
- Benchmarks with a single split ship in several layouts (e.g. AIME 2025 as two files, parts I and
  II); every data file of the directory is read, in sorted order. Parquet shards of a Hugging Face
  download can be copied as they are.
- Answers given as numbers (AIME, AMC releases with float answers such as 27.0) become strings;
  integral floats lose the ".0".
- Blank JSONL lines are skipped. Ids must be unique within a split.

The prepared ArrayRecord files are cached under data_dir/<builder name>/<config>/; the config name
is a fingerprint of the input files' names, sizes and modification times, so replacing a file
prepares the dataset again instead of reading stale records.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import tensorflow_datasets as tfds

from jax_rlvr.data import builders

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


def find_files(directory: str, prefix: str = "") -> list[str]:
  """Sorted data files of `directory` whose names start with `prefix`."""
  if not os.path.isdir(directory):
    return []
  return sorted(
    os.path.join(directory, name)
    for name in os.listdir(directory)
    if name.startswith(prefix) and name.endswith(DATA_SUFFIXES)
  )


def boxed_content(text: str) -> str | None:
  """The content of the last \\boxed{...} (or \\fbox{...}) in `text`, braces balanced; or None."""
  start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
  if start < 0:
    return None
  i = text.index("{", start) + 1
  depth, begin = 1, i
  while i < len(text):
    if text[i] == "{":
      depth += 1
    elif text[i] == "}":
      depth -= 1
      if depth == 0:
        return text[begin:i].strip()
    i += 1
  return None


_CONFIGS: dict[tuple[str, str], tfds.core.BuilderConfig] = {}


class LocalMathBuilder(tfds.core.GeneratorBasedBuilder, abc.ABC):
  """Base of the local math dataset builders.

  Subclasses set DATASET (the user-facing name, also the subdirectory of manual_dir), SPLITS
  ({split: file name prefix}; "" takes every data file) and implement `parse`.
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  DATASET: str
  SPLITS: dict[str, str] = {"test": ""}
  DEDUPE_PROMPTS = False
  ID_FIELDS: tuple[str, ...] = ("id",)

  @abc.abstractmethod
  def parse(self, record: RawRecord) -> tuple[str, str]:
    """(prompt, answer) of one record; calls record.fail(...) when it cannot."""

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
      builder=self,
      description=type(self).__doc__,
      features=builders.text_features(),
      disable_shuffling=True,  # file order: eval.num_prompts takes a benchmark's first problems
    )

  def _split_generators(self, dl_manager):
    directory = os.fspath(dl_manager.manual_dir)
    splits = {}
    for split, prefix in self.SPLITS.items():
      files = find_files(directory, prefix)
      if not files:
        raise FileNotFoundError(
          f"No {prefix or ''}*.jsonl / {prefix or ''}*.parquet file of {self.DATASET} "
          f"({split} split) in {directory}.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}"
        )
      splits[split] = self._generate_examples(files=files, split=split)
    return splits

  def _generate_examples(self, files: list[str], split: str):
    seen_prompts, seen_ids = set(), {}
    index = 0
    for path in files:
      for record in read_records(path):
        prompt, answer = self.parse(record)
        if self.DEDUPE_PROMPTS:
          if prompt in seen_prompts:
            continue
          seen_prompts.add(prompt)
        raw_id = record.text(self.ID_FIELDS, required=False)
        record_id = f"{self.DATASET}/{raw_id if raw_id else f'{split}/{index}'}"
        if record_id in seen_ids:
          record.fail(f"id {record_id!r} repeats the record at {seen_ids[record_id]}.")
        seen_ids[record_id] = record.where
        yield index, {"prompt": prompt, "answer": answer, "source": self.DATASET, "id": record_id}
        index += 1


def _instructions(files: str, fields: str) -> str:
  return f"Place {files} in <manual_dir>/<dataset name>/. Fields read: {fields}."


_DAPO_PREFIX = (
  "Solve the following math problem step by step. The last line of your response should be of "
  "the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
)
_DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'


class LocalDapoMath17k(LocalMathBuilder):
  """DAPO-Math-17k (BytedTsinghua-SIA): the paper's training set, one record per problem."""

  name = "local_dapo_math_17k"
  DATASET = "dapo_math_17k"
  SPLITS = {"train": ""}
  DEDUPE_PROMPTS = True
  ID_FIELDS = ("extra_info.index",)
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "dapo-math-17k.parquet (or JSONL with the same fields)",
    "prompt (list of {role, content}: the last user turn; or a string), "
    "reward_model.ground_truth, extra_info.index",
  )

  def parse(self, record):
    _, prompt = record.first(("prompt",))
    if isinstance(prompt, list):
      turns = [t for t in prompt if isinstance(t, dict) and t.get("role") == "user"]
      if not turns:
        record.fail("field prompt is a list without a {'role': 'user', 'content': ...} turn.")
      prompt = turns[-1].get("content")
    if not isinstance(prompt, str) or not prompt.strip():
      record.fail("field prompt has no user text.")
    if prompt.startswith(_DAPO_PREFIX) and prompt.endswith(_DAPO_SUFFIX):
      prompt = prompt[len(_DAPO_PREFIX) : -len(_DAPO_SUFFIX)]
    return prompt.strip(), record.text(("reward_model.ground_truth",))


class LocalMath500(LocalMathBuilder):
  """MATH-500 (HuggingFaceH4/MATH-500): 500 MATH test problems chosen by PRM800K."""

  name = "local_math_500"
  DATASET = "math_500"
  ID_FIELDS = ("unique_id",)
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "test.jsonl", "problem, answer, unique_id (solution, subject, level are not needed)"
  )

  def parse(self, record):
    return record.text(("problem",)), record.text(("answer",))


class _CompetitionBuilder(LocalMathBuilder, skip_registration=True):
  """AIME / AMC style: a problem and a short (usually integer) answer."""

  PROMPT_FIELDS = ("problem", "Problem", "question")
  ANSWER_FIELDS = ("answer", "Answer")
  ID_FIELDS = ("id", "ID")

  def parse(self, record):
    return record.text(self.PROMPT_FIELDS), record.text(self.ANSWER_FIELDS)


# The fields the competition builders read, as their instructions name them.
_COMPETITION_FIELDS = ", ".join(
  "|".join(names)
  for names in (
    _CompetitionBuilder.PROMPT_FIELDS,
    _CompetitionBuilder.ANSWER_FIELDS,
    _CompetitionBuilder.ID_FIELDS,
  )
)


class LocalAime2024(_CompetitionBuilder):
  """AIME 2024, parts I and II (30 problems; e.g. HuggingFaceH4/aime_2024)."""

  name = "local_aime_2024"
  DATASET = "aime_2024"
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "the release's .parquet or .jsonl files", _COMPETITION_FIELDS
  )


class LocalAime2025(_CompetitionBuilder):
  """AIME 2025, parts I and II (30 problems; e.g. opencompass/AIME2025, yentinglin/aime_2025)."""

  name = "local_aime_2025"
  DATASET = "aime_2025"
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "the release's files (e.g. aime2025-I.jsonl and aime2025-II.jsonl)",
    _COMPETITION_FIELDS,
  )


class LocalAmc2023(_CompetitionBuilder):
  """AMC 2023 (40 problems with numeric answers; e.g. math-ai/amc23)."""

  name = "local_amc_2023"
  DATASET = "amc_2023"
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "the release's .jsonl or .parquet files", _COMPETITION_FIELDS
  )


class LocalMinervaMath(LocalMathBuilder):
  """Minerva Math (OCWCourses, 272 problems; e.g. the Qwen2.5-Math evaluation's test.jsonl)."""

  name = "local_minerva_math"
  DATASET = "minerva_math"
  ID_FIELDS = ("id", "idx", "unique_id")
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "test.jsonl", "problem|question, answer (else the last \\boxed{} of solution), id|idx"
  )

  def parse(self, record):
    prompt = record.text(("problem", "question"))
    answer = record.text(("answer",), required=False)
    if answer is None:
      solution = record.text(("solution",), required=False)
      answer = boxed_content(solution) if solution else None
      if not answer:
        record.fail("no answer field and no \\boxed{...} in a solution field.")
    return prompt, answer


_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.DOTALL)


class LocalGsm8k(LocalMathBuilder):
  """GSM8K (openai/gsm8k, "main"): grade-school word problems; the gold follows "####"."""

  name = "local_gsm8k"
  DATASET = "gsm8k"
  SPLITS = {"train": "train", "test": "test"}
  ID_FIELDS = ()
  MANUAL_DOWNLOAD_INSTRUCTIONS = _instructions(
    "train.jsonl and test.jsonl (or the train-*.parquet / test-*.parquet shards)",
    'question, answer (a worked solution ending in "#### N")',
  )

  def parse(self, record):
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


def files_fingerprint(paths: Sequence[str]) -> str:
  """A short hash of the files' names, sizes and modification times."""
  digest = hashlib.sha256()
  for path in sorted(paths):
    stat = os.stat(path)
    digest.update(f"{os.path.basename(path)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
  return digest.hexdigest()[:16]


def prepare_math(
  name: str, data_dir: str | os.PathLike, manual_dir: str | os.PathLike
) -> dict[str, Any]:
  """Prepares (once per version of the files) and opens a local math dataset.

  Args:
    name: one of BUILDERS (dapo_math_17k, math_500, aime_2024, aime_2025, amc_2023,
      minerva_math, gsm8k).
    data_dir: where the ArrayRecord files go (data_dir/local_<name>/files_<fingerprint>/1.0.0/).
    manual_dir: the root of the user's downloads; this dataset's files are in manual_dir/<name>/.

  Returns:
    {split: random-access source of dicts of bytes with builders.FEATURE_NAMES}; the splits are
    the builder's SPLITS ("test" for the benchmarks, "train" for DAPO-Math-17k, both for GSM8K).
  """
  if name not in BUILDERS:
    raise ValueError(f"Unknown math dataset {name!r}; choose one of {sorted(BUILDERS)}.")
  cls = BUILDERS[name]
  directory = os.path.join(os.fspath(manual_dir), name)
  files = [path for prefix in set(cls.SPLITS.values()) for path in find_files(directory, prefix)]
  if not files:
    raise FileNotFoundError(
      f"No data files of {name} in {directory}.\n{cls.MANUAL_DOWNLOAD_INSTRUCTIONS}"
    )
  config_name = f"files_{files_fingerprint(sorted(set(files)))}"
  # One object per (builder, name): TFDS refuses an equally named config that is another object.
  key = (cls.name, config_name)
  if key not in _CONFIGS:
    _CONFIGS[key] = tfds.core.BuilderConfig(name=config_name, description=f"Files in {directory}.")
  builder = cls(config=_CONFIGS[key], data_dir=os.fspath(data_dir), file_format="array_record")
  tfds.disable_progress_bar()
  builder.download_and_prepare(
    file_format="array_record",
    download_config=tfds.download.DownloadConfig(manual_dir=directory, try_download_gcs=False),
  )
  return builder.as_data_source()
