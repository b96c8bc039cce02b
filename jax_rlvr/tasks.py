"""The verifiable tasks a run can train on: `TASKS[config.data.task]`, each a `Task`.

A task ties the data sources of the train and test splits to the grader of its responses. This
module sits below configuration checks and run assembly (`config_validation`, `components`), so
both can look tasks up without importing each other.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections

from jax_rlvr.data import builders, math_builders, reasoning_gym_tasks
from jax_rlvr.data.tasks import arithmetic
from jax_rlvr.models.char_tokenizer import arithmetic_tokenizer, printable_ascii_tokenizer
from jax_rlvr.rewards import math as math_rewards


@dataclasses.dataclass(frozen=True)
class Task:
  """A verifiable task the train loop can run.

  prepare(config, data_dir) -> {"train": source, "test": source}: random-access records with the
    4-field schema of jax_rlvr.data.builders (prompt, answer, source, id; str or bytes values).
  grade(responses, answers) -> list of rewards in [0, 1], in input order; must never raise.
  has_demonstrations: the warm-up (warmup.steps > 0) can generate noisy demonstrations for it.
  char_tokenizer: the tokenizer of tokenizer.kind = "char" for this task's text.
  extract_answer(response) -> the final answer as a normalised string, or None; used by the eval's
    unique-answer rate (omitted when None).
  """

  prepare: Callable[[ml_collections.ConfigDict, str], dict]
  grade: Callable[[Sequence[str], Sequence[str]], list[float]]
  has_demonstrations: bool = False
  char_tokenizer: Callable[[], Any] = arithmetic_tokenizer
  extract_answer: Callable[[str], str | None] | None = None


def _prepare_arithmetic(config, data_dir):
  c = config.data
  return builders.prepare_arithmetic(
    data_dir,
    seed=config.seed,
    num_train=c.train_size,
    num_test=c.test_size,
    min_terms=c.min_terms,
    max_terms=c.max_terms,
    min_value=c.min_value,
    max_value=c.max_value,
  )


def _grade_arithmetic(responses, answers):
  return [arithmetic.verify(r, a) for r, a in zip(responses, answers, strict=True)]


def split_spec(spec: str, default_split: str) -> tuple[str, str]:
  """ "gsm8k:train" -> ("gsm8k", "train"); "math_500" -> ("math_500", default_split)."""
  name, _, split = spec.partition(":")
  return name, split or default_split


def _prepare_math(config, data_dir):
  """Train split from data.dataset, test split from data.eval_dataset (local files only)."""
  c = config.data
  sources = {}
  for role, field in (("train", "dataset"), ("test", "eval_dataset")):
    name, split = split_spec(c[field], role)
    splits = math_builders.prepare_math(name, data_dir, c.manual_dir)
    if split not in splits:
      raise ValueError(
        f"config.data.{field}={c[field]!r}: {name} has the splits {sorted(splits)}; "
        f"write '{name}:<split>'."
      )
    sources[role] = splits[split]
  return sources


def _reasoning_gym_task(dataset: str) -> Task:
  def prepare(config, data_dir):
    c = config.data
    return reasoning_gym_tasks.prepare_reasoning_gym(
      dataset,
      data_dir,
      seed=config.seed,
      num_train=c.train_size,
      num_test=c.test_size,
      **c.rg_config.to_dict(),
    )

  return Task(prepare, reasoning_gym_tasks.grade, char_tokenizer=printable_ascii_tokenizer)


TASKS: dict[str, Task] = {
  "arithmetic": Task(
    _prepare_arithmetic,
    _grade_arithmetic,
    has_demonstrations=True,
    extract_answer=arithmetic.extract_answer,
  ),
  # Local math datasets (jax_rlvr/data/math_builders.py): data.dataset / data.eval_dataset.
  "math": Task(_prepare_math, math_rewards.grade, char_tokenizer=printable_ascii_tokenizer),
  # reasoning-gym generators (jax_rlvr/data/reasoning_gym_tasks.py), binary rewards.
  **{f"rg_{name}": _reasoning_gym_task(name) for name in reasoning_gym_tasks.DATASETS},
}


def build_task(config: ml_collections.ConfigDict) -> Task:
  """TASKS[data.task], graded by the last or first number of a response when data.answer_format
  says so (reasoning_gym_tasks.NUMBER_FORMATS)."""
  task = TASKS[config.data.task]
  extract = reasoning_gym_tasks.NUMBER_FORMATS.get(config.data.answer_format)
  if extract is not None:
    grade = functools.partial(reasoning_gym_tasks.grade_numbers, extract=extract)
    return dataclasses.replace(task, grade=grade, extract_answer=extract)
  return task
