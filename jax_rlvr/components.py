"""Builds a run's pieces from its config: tokenizer, policy, task (sources + grader) and data."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

import jax
import ml_collections
from flax import nnx

from jax_rlvr.data import builders, pipeline
from jax_rlvr.data.tasks import arithmetic
from jax_rlvr.models import Policy, get_preset
from jax_rlvr.models.char_tokenizer import arithmetic_tokenizer


@dataclasses.dataclass(frozen=True)
class Task:
  """A verifiable task the train loop can run.

  prepare(config, data_dir) -> {"train": source, "test": source}: random-access records with the
    4-field schema of jax_rlvr.data.builders (prompt, answer, source, id; str or bytes values).
  grade(responses, answers) -> list of rewards in [0, 1], in input order; must never raise.
  has_demonstrations: the warm-up (warmup.steps > 0) can generate noisy demonstrations for it.
  """

  prepare: Callable[[ml_collections.ConfigDict, str], dict]
  grade: Callable[[Sequence[str], Sequence[str]], list[float]]
  has_demonstrations: bool = False


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


TASKS: dict[str, Task] = {
  "arithmetic": Task(_prepare_arithmetic, _grade_arithmetic, has_demonstrations=True),
}


def build_tokenizer(config: ml_collections.ConfigDict):
  if config.tokenizer.kind == "char":
    return arithmetic_tokenizer()
  from jax_rlvr.models.hf_tokenizer import load_tokenizer

  return load_tokenizer(config.tokenizer.path)


def build_policy(config: ml_collections.ConfigDict, tokenizer) -> Policy:
  """A local HF checkpoint when model.hf_checkpoint is set, else a random preset policy."""
  m = config.model
  if m.hf_checkpoint:
    from jax_rlvr.models.hf_checkpoint import load_hf_checkpoint

    return load_hf_checkpoint(m.hf_checkpoint, dtype=m.dtype, param_dtype=m.param_dtype)
  model_config = get_preset(
    m.preset,
    vocab_size=tokenizer.vocab_size,
    dtype=m.dtype,
    param_dtype=m.param_dtype,
    remat=m.remat,
  )
  return Policy(model_config, rngs=nnx.Rngs(params=config.seed))


def build_task(config: ml_collections.ConfigDict) -> Task:
  return TASKS[config.data.task]


def _data_dir(config, workdir: str) -> str:
  return config.data.data_dir or os.path.join(workdir, "data")


def build_data(config: ml_collections.ConfigDict, workdir: str):
  """Returns (rl_iterator, warmup_iterator, eval_records).

  The iterators are grain iterators with get_state/set_state (saved in checkpoints); each
  process reads its own shard. eval_records: {"prompt": [...], "answer": [...]} of the test split.
  """
  c = config.data
  sources = builders.prepare_arithmetic(
    _data_dir(config, workdir),
    seed=config.seed,
    num_train=c.train_size,
    num_test=c.test_size,
    min_terms=c.min_terms,
    max_terms=c.max_terms,
    min_value=c.min_value,
    max_value=c.max_value,
  )
  shard = dict(shard_index=jax.process_index(), shard_count=jax.process_count())
  rl_iter = pipeline.make_iterator(
    pipeline.prompt_dataset(
      sources["train"], batch_size=config.rollout.prompts_per_step, seed=config.seed, **shard
    )
  )
  warmup_iter = None
  if config.warmup.steps > 0:
    warmup_iter = pipeline.make_iterator(
      pipeline.sft_dataset(
        sources["train"],
        batch_size=config.warmup.batch_size,
        seed=config.seed + 1,
        noise=config.warmup.noise,
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
