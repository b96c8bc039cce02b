"""Builds a run's pieces from its config: tokenizer, policy, task (sources + grader) and data."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
from flax import nnx

from jax_rlvr import distributed, sharding
from jax_rlvr.data import builders, diversity_subsets, math_datasets, pipeline, reasoning_gym_tasks
from jax_rlvr.data.tasks import arithmetic
from jax_rlvr.models import Policy, get_preset
from jax_rlvr.models.char_tokenizer import arithmetic_tokenizer, printable_ascii_tokenizer
from jax_rlvr.models.gguf_import import resolve_model_path


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
    splits = math_datasets.prepare_math(name, data_dir, c.manual_dir)
    if split not in splits:
      raise ValueError(
        f"config.data.{field}={c[field]!r}: {name} has the splits {sorted(splits)}; "
        f"write '{name}:<split>'."
      )
    sources[role] = splits[split]
  return sources


def _grade_math(responses, answers):
  # Imported on first use: the math verifier's dependencies are only needed by math runs.
  from jax_rlvr.rewards import math as math_rewards

  return math_rewards.grade(responses, answers)


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
  # Local math datasets (jax_rlvr/data/math_datasets.py): data.dataset / data.eval_dataset.
  "math": Task(_prepare_math, _grade_math, char_tokenizer=printable_ascii_tokenizer),
  # reasoning-gym generators (jax_rlvr/data/reasoning_gym_tasks.py), binary rewards.
  **{f"rg_{name}": _reasoning_gym_task(name) for name in reasoning_gym_tasks.DATASETS},
}


def build_tokenizer(config: ml_collections.ConfigDict):
  if config.tokenizer.kind == "char":
    return build_task(config).char_tokenizer()
  from jax_rlvr.models.hf_tokenizer import load_tokenizer

  return load_tokenizer(resolve_model_path(config.tokenizer.path))


def run_choices(model_config: ml_collections.ConfigDict) -> dict:
  """The ModelConfig fields config.model sets that are run choices, not checkpoint facts."""
  m = model_config
  return dict(
    remat=m.remat,
    attention=m.attention,
    attention_chunk_size=m.attention_chunk_size,
  )


def build_policy(config: ml_collections.ConfigDict, tokenizer, mesh=None) -> Policy:
  """A local HF checkpoint when model.hf_checkpoint is set (born sharded over `mesh` if given),
  else a random preset policy."""
  m = config.model
  if m.hf_checkpoint:
    from jax_rlvr.models.hf_checkpoint import load_hf_checkpoint

    return load_hf_checkpoint(
      resolve_model_path(m.hf_checkpoint),
      dtype=m.dtype,
      param_dtype=m.param_dtype,
      mesh=mesh,
      **run_choices(m),
    )
  model_config = get_preset(
    m.preset,
    vocab_size=tokenizer.vocab_size,
    dtype=m.dtype,
    param_dtype=m.param_dtype,
    **run_choices(m),
  )
  return Policy(model_config, rngs=nnx.Rngs(params=config.seed))


def build_sharded_policy(config: ml_collections.ConfigDict, tokenizer, mesh):
  """(graphdef, params): parameters born sharded on `mesh` by their logical axis names.

  A random preset policy is initialised inside jit with the target shardings (no device holds
  it whole); a Hugging Face checkpoint is read block by block straight into the shards.
  """
  if config.model.hf_checkpoint:
    return nnx.split(build_policy(config, tokenizer, mesh))
  graphdef, abstract = nnx.split(nnx.eval_shape(lambda: build_policy(config, tokenizer)))
  init = jax.jit(
    lambda: nnx.split(build_policy(config, tokenizer))[1],
    out_shardings=sharding.state_shardings(abstract, mesh),
  )
  return graphdef, init()


def build_task(config: ml_collections.ConfigDict) -> Task:
  task = TASKS[config.data.task]
  if config.data.answer_format == "last_number":
    grade, extract = reasoning_gym_tasks.grade_last_number, reasoning_gym_tasks.last_number
    return dataclasses.replace(task, grade=grade, extract_answer=extract)
  return task


def _data_dir(config, workdir: str) -> str:
  return config.data.data_dir or os.path.join(workdir, "data")


def subset_dir(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Where the diversity subsets of the task's train split live (data.subset_dir or a default)."""
  return config.data.subset_dir or os.path.join(
    _data_dir(config, workdir), "subsets", config.data.task
  )


def build_sources(
  config: ml_collections.ConfigDict, workdir: str, task: Task, *, apply_subset: bool = True
) -> dict:
  """{"train", "test"} sources of the task; train is restricted to data.train_subset when set
  (and `apply_subset`)."""
  sources = dict(task.prepare(config, _data_dir(config, workdir)))
  if apply_subset and config.data.train_subset:
    sources["train"] = diversity_subsets.select_subset(
      sources["train"], subset_dir(config, workdir), config.data.train_subset
    )
  return sources


def build_data(config: ml_collections.ConfigDict, workdir: str, task: Task):
  """Returns (rl_iterator, warmup_iterator or None, eval_records).

  The iterators are grain iterators with get_state/set_state (saved in checkpoints); each
  process reads its own shard. eval_records: {"prompt": [...], "answer": [...]} of the test split.
  """
  # Process 0 prepares the files first; the others then open what it wrote.
  if jax.process_index() == 0:
    sources = build_sources(config, workdir, task)
  distributed.sync("prepare_data")
  if jax.process_index() != 0:
    sources = build_sources(config, workdir, task)
  # Batch sizes in the config are global; each process reads its share.
  num = jax.process_count()
  shard = dict(shard_index=jax.process_index(), shard_count=num)
  rl_iter = pipeline.make_iterator(
    pipeline.prompt_dataset(
      sources["train"],
      batch_size=config.rollout.prompts_per_step // num,
      seed=config.seed,
      **shard,
    )
  )
  warmup_iter = None
  if config.warmup.steps > 0:
    warmup_iter = pipeline.make_iterator(
      pipeline.sft_dataset(
        sources["train"],
        batch_size=config.warmup.batch_size // num,
        seed=config.seed + 1,
        noise=config.warmup.noise,
        carry_bug=config.warmup.carry_bug,
        **shard,
      )
    )
  test = sources["test"]
  records = [test[i] for i in range(min(len(test), config.eval.num_prompts))]
  eval_records = {
    key: [r[key].decode() if isinstance(r[key], bytes) else r[key] for r in records]
    for key in ("prompt", "answer")
  }
  return rl_iter, warmup_iter, eval_records
