"""reasoning-gym procedural tasks as a TFDS builder (ArrayRecord), with binary rewards.

reasoning-gym (pip package `reasoning-gym`, no network needed) generates problems from a seed and
scores answers with its own verifiers, which need the generated entry's metadata (countdown, for
example, checks that the expression uses exactly the given numbers). The 4-field schema of
jax_rlvr.data.builders carries it in `answer`:

    prompt  entry["question"] (no answer-format instruction added: data.template adds one),
    answer  JSON of {"dataset", "question", "answer", "metadata"}: the whole entry the scorer needs
            (metadata values that are not JSON types, e.g. Fraction, are stored as str),
    source  "reasoning_gym/<dataset>",
    id      "reasoning_gym/<dataset>/<split>/<index>".

    sources = prepare_reasoning_gym("countdown", data_dir, seed=0, num_train=1000, num_test=100,
                                    min_numbers=3, max_numbers=3)
    grade(["... <answer>9 + 1 * 1</answer>"], [sources["test"][0]["answer"].decode()])  # [0.0/1.0]

Splits: test draws entries seed + TEST_SEED_OFFSET + i, train seed + i (reasoning-gym seeds entry
i with seed + i, so the two ranges never meet for fewer than TEST_SEED_OFFSET records), and train
drops entries whose question is also in test.

Answer extraction (`extract_answer`): the content of the last <answer>...</answer>; without one the
content of the last \\boxed{...}; without one the last non-empty line of the response.
Rewards are binary: reasoning-gym's `score_answer` gives partial credit (e.g. 0.01 for a
well-formed wrong countdown expression, len(gold)/len(answer) for an answer that contains the gold
as a substring); the reward is 1.0 when that score is >= 1 (exactly right) and 0.0 otherwise.
Countdown answers that are not plain arithmetic (characters other than digits, + - * / ( ) . and
spaces, or a power "**") get 0 without being scored: its scorer evaluates the text with sympy,
which would run arbitrary expressions and can take unbounded time on huge powers.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
from collections.abc import Sequence
from typing import Any

import tensorflow_datasets as tfds

from jax_rlvr.data import builders
from jax_rlvr.rewards.extraction import last_boxed

TEST_SEED_OFFSET = 1_000_000_007
# Datasets registered as tasks (jax_rlvr.tasks.TASKS "rg_<name>"); others may work but are untested.
DATASETS = (
  "countdown",
  "basic_arithmetic",
  "chain_sum",
  "gsm_symbolic",
  "letter_counting",
  "number_format",
)
MAX_ANSWER_CHARS = 1000

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_SAFE_ANSWERS = {"countdown": re.compile(r"[0-9+\-*/(). ]+")}


@dataclasses.dataclass(eq=False)
class ReasoningGymConfig(tfds.core.BuilderConfig):
  """Generator and split sizes; the name encodes them, so no two configs share files."""

  dataset: str = "countdown"
  seed: int = 0
  num_train: int = 1000
  num_test: int = 100
  generator_kwargs: str = "{}"  # JSON of the reasoning-gym config fields


_CONFIGS: dict[str, ReasoningGymConfig] = {}


def reasoning_gym_config(
  dataset: str, *, seed: int, num_train: int, num_test: int, **generator_kwargs: Any
) -> ReasoningGymConfig:
  """The config of these parameters (one object per name, as TFDS requires)."""
  kwargs = json.dumps(generator_kwargs, sort_keys=True)
  digest = hashlib.sha256(kwargs.encode()).hexdigest()[:10]
  name = f"{dataset}_seed{seed}_n{num_train}-{num_test}_g{digest}"
  if name not in _CONFIGS:
    _CONFIGS[name] = ReasoningGymConfig(
      name=name,
      description=f"reasoning-gym {dataset} with {kwargs}.",
      dataset=dataset,
      seed=seed,
      num_train=num_train,
      num_test=num_test,
      generator_kwargs=kwargs,
    )
  return _CONFIGS[name]


class ReasoningGymTasks(tfds.core.GeneratorBasedBuilder):
  """Problems of one reasoning-gym generator; splits train and test (disjoint questions)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [reasoning_gym_config("countdown", seed=0, num_train=1000, num_test=100)]

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
      builder=self, description=__doc__, features=builders.text_features(), disable_shuffling=True
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Procedural: nothing to download.
    c = self.builder_config
    kwargs = json.loads(c.generator_kwargs)
    test = _draw(c.dataset, c.seed + TEST_SEED_OFFSET, c.num_test, kwargs, exclude=set())
    train = _draw(c.dataset, c.seed, c.num_train, kwargs, exclude={e["question"] for e in test})
    return {
      "train": self._generate_examples(entries=train, split="train"),
      "test": self._generate_examples(entries=test, split="test"),
    }

  def _generate_examples(self, entries: list[dict], split: str):
    dataset = self.builder_config.dataset
    for index, entry in enumerate(entries):
      yield (
        index,
        {
          "prompt": entry["question"],
          "answer": encode_entry(dataset, entry),
          "source": f"reasoning_gym/{dataset}",
          "id": f"reasoning_gym/{dataset}/{split}/{index}",
        },
      )


def _draw(dataset: str, seed: int, count: int, kwargs: dict, exclude: set[str]) -> list[dict]:
  import reasoning_gym

  # Slack for entries dropped as test questions; generators (gsm_symbolic) fix their size upfront.
  size = 2 * count + 100
  generator = reasoning_gym.create_dataset(dataset, seed=seed, size=size, **kwargs)
  entries = []
  for index in range(size):
    entry = generator[index]
    if entry["question"] not in exclude:
      entries.append(entry)
      if len(entries) == count:
        return entries
  raise ValueError(
    f"reasoning-gym {dataset} with {kwargs} gave only {len(entries)} train questions outside the "
    f"test split in {size} draws; widen the generator's ranges or ask for fewer records."
  )


def _jsonable(value):
  if hasattr(value, "tolist"):  # numpy scalars and arrays
    return value.tolist()
  if isinstance(value, set | frozenset):
    return sorted(value, key=repr)
  return str(value)


def encode_entry(dataset: str, entry: dict) -> str:
  """The `answer` field: JSON of what reasoning-gym's scorer reads."""
  record = {
    "dataset": dataset,
    "question": entry["question"],
    "answer": entry["answer"],
    "metadata": entry.get("metadata", {}),
  }
  return json.dumps(record, default=_jsonable, ensure_ascii=False)


def prepare_reasoning_gym(
  dataset: str,
  data_dir: str | os.PathLike,
  *,
  seed: int = 0,
  num_train: int = 1000,
  num_test: int = 100,
  **generator_kwargs: Any,
) -> dict[str, Any]:
  """Generates (once; later calls reuse the files) and opens a reasoning-gym dataset.

  Args:
    dataset: a reasoning-gym dataset name (DATASETS are the tested ones).
    data_dir: files go to data_dir/reasoning_gym_tasks/<config name>/1.0.0/.
    seed, num_train, num_test: see the module docstring for how the splits are drawn.
    **generator_kwargs: fields of the generator's reasoning-gym config (e.g. countdown's
      min_numbers, max_numbers, min_value, max_value, min_target, max_target).

  Returns:
    {"train": source, "test": source}: random-access sources of dicts of bytes.
  """
  config = reasoning_gym_config(
    dataset, seed=seed, num_train=num_train, num_test=num_test, **generator_kwargs
  )
  builder = ReasoningGymTasks(
    config=config, data_dir=os.fspath(data_dir), file_format="array_record"
  )
  tfds.disable_progress_bar()
  builders.prepare_offline(builder)
  return builder.as_data_source()


def extract_answer(response: str) -> str | None:
  """The last <answer>...</answer>, else the last \\boxed{...}, else the last non-empty line."""
  tags = _ANSWER_TAG.findall(response)
  if tags:
    return tags[-1].strip()
  boxed = last_boxed(response)
  if boxed is not None:
    return boxed.strip()
  lines = [line.strip() for line in response.splitlines() if line.strip()]
  return lines[-1] if lines else None


@functools.cache
def _scorer(dataset: str):
  import reasoning_gym

  return reasoning_gym.get_score_answer_fn(dataset)


def score(response: str, answer_json: str) -> float:
  """Binary reward of one response against an `answer` field (see the module docstring)."""
  try:
    entry = json.loads(answer_json)
    dataset = entry["dataset"]
    answer = extract_answer(response)
    if answer is None or len(answer) > MAX_ANSWER_CHARS:
      return 0.0
    safe = _SAFE_ANSWERS.get(dataset)
    if safe is not None and (not safe.fullmatch(answer) or "**" in answer):
      return 0.0
    return 1.0 if _scorer(dataset)(answer, entry) >= 1.0 else 0.0
  except Exception:  # a verifier must never stop training; a crash is a wrong answer
    return 0.0


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def last_number(response: str) -> str | None:
  """The last integer or decimal in the response (data.answer_format = "last_number")."""
  numbers = _NUMBER.findall(response[-MAX_ANSWER_CHARS:])
  return numbers[-1] if numbers else None


def first_number(response: str) -> str | None:
  """The first integer or decimal in the response (data.answer_format = "first_number": a
  template that opens the answer, "The answer is", makes it the response's first number)."""
  match = _NUMBER.search(response[:MAX_ANSWER_CHARS])
  return match.group() if match else None


# data.answer_format -> the number a response is graded by.
NUMBER_FORMATS = {"last_number": last_number, "first_number": first_number}


def score_number(response: str, answer_json: str, extract=last_number) -> float:
  """1.0 when the response's number (`extract`: last_number or first_number) equals the entry's
  numeric answer, else 0.0.

  For small models that answer in prose ("The answer is 7."): no answer tag or format is needed.
  With last_number, whatever the response says after its answer must not be another number; with
  first_number, nothing before it may be.
  """
  try:
    number = extract(response)
    return float(number is not None and float(number) == float(json.loads(answer_json)["answer"]))
  except (ValueError, KeyError, TypeError):
    return 0.0


def grade_numbers(
  responses: Sequence[str], answers: Sequence[str], extract=last_number
) -> list[float]:
  """Binary rewards by `score_number`, in input order."""
  return [score_number(r, a, extract) for r, a in zip(responses, answers, strict=True)]


def grade(responses: Sequence[str], answers: Sequence[str]) -> list[float]:
  """Binary rewards, in input order; `answers` are the JSON `answer` fields of the records."""
  return [score(r, a) for r, a in zip(responses, answers, strict=True)]
