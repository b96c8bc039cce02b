"""Builds a run's pieces from its config: tokenizer, policy, sampling settings and data.

The task (sources + grader) comes from `jax_rlvr.tasks`.
"""

from __future__ import annotations

import os

import jax
import ml_collections
from flax import nnx

from jax_rlvr import distributed, sharding
from jax_rlvr.data import diversity_subsets, pipeline
from jax_rlvr.models import Policy, Tokenizer, get_preset, load_hf_checkpoint, load_tokenizer
from jax_rlvr.models.gguf_import import resolve_model_path
from jax_rlvr.rollout import sampling
from jax_rlvr.tasks import Task, build_task


def build_tokenizer(config: ml_collections.ConfigDict) -> Tokenizer:
  """The task's character tokenizer (tokenizer.kind = "char"), else tokenizer.path's."""
  if config.tokenizer.kind == "char":
    return build_task(config).char_tokenizer()
  return load_tokenizer(resolve_model_path(config.tokenizer.path))


def run_choices(model_config: ml_collections.ConfigDict) -> dict:
  """The ModelConfig fields config.model sets that are run choices, not checkpoint facts."""
  m = model_config
  return dict(
    remat=m.remat,
    attention=m.attention,
    attention_chunk_size=m.attention_chunk_size,
  )


def sampling_config(
  config: ml_collections.ConfigDict,
  *,
  eos_ids: tuple[int, ...],
  pad_id: int,
  evaluation: bool = False,
) -> sampling.SamplingConfig:
  """The rollout's sampling settings (rollout.*: G = rollout.group_size samples per prompt), or
  with `evaluation` the eval's (eval.*: eval.k samples, no top-k). Both generate at most
  rollout.max_new_tokens tokens and stop at any of `eos_ids` (a tokenizer's `eos_ids`)."""
  c = config.eval if evaluation else config.rollout
  return sampling.SamplingConfig(
    max_new_tokens=config.rollout.max_new_tokens,
    temperature=c.temperature,
    top_p=c.top_p,
    top_k=0 if evaluation else c.top_k,
    num_samples=c.k if evaluation else c.group_size,
    eos_id=eos_ids,
    pad_id=pad_id,
  )


def build_policy(config: ml_collections.ConfigDict, tokenizer, mesh=None) -> Policy:
  """A local HF checkpoint when model.hf_checkpoint is set (born sharded over `mesh` if given),
  else a random preset policy."""
  m = config.model
  if m.hf_checkpoint:
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
  sources = prepared_sources(config, workdir, task)
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
  return rl_iter, warmup_iter, eval_records(config, sources["test"])


def prepared_sources(
  config: ml_collections.ConfigDict, workdir: str, task: Task, *, apply_subset: bool = True
) -> dict:
  """`build_sources` on every process: process 0 prepares the files first, the others then open
  what it wrote."""
  if jax.process_index() == 0:
    sources = build_sources(config, workdir, task, apply_subset=apply_subset)
  distributed.sync("prepare_data")
  if jax.process_index() != 0:
    sources = build_sources(config, workdir, task, apply_subset=apply_subset)
  return sources


def eval_records(config: ml_collections.ConfigDict, test_source) -> dict:
  """{"prompt": [...], "answer": [...]} (str) of the first eval.num_prompts test records."""
  records = [test_source[i] for i in range(min(len(test_source), config.eval.num_prompts))]
  return {
    key: [r[key].decode() if isinstance(r[key], bytes) else r[key] for r in records]
    for key in ("prompt", "answer")
  }
