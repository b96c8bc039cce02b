"""`validate_config(config)`: rejects bad values before anything compiles, naming field and fix."""

from __future__ import annotations

import json
import os

import jax
import ml_collections

from jax_rlvr import lr_schedules, rl_step, sharding, tasks
from jax_rlvr.data import local_files, math_builders, reasoning_gym_tasks, templates
from jax_rlvr.models import PRESETS, gguf_import
from jax_rlvr.rl import METHODS, advantages, controllers, kl, losses
from jax_rlvr.rollout import engines, sampling


class ConfigError(ValueError):
  """A config value that cannot work; the message names the field and the fix."""


def _check(ok: bool, field: str, value, fix: str):
  if not ok:
    raise ConfigError(f"config.{field}={value!r} is invalid: {fix}")


def _one_of(c, field: str, choices):
  value = _get(c, field)
  _check(value in choices, field, value, f"choose one of {list(choices)}.")


def _one_of_value(field: str, value, name, choices):
  _check(name in choices, field, value, f"choose one of {list(choices)} (optionally ':<split>').")


def _get(c, field: str):
  for part in field.split("."):
    c = c[part]
  return c


def validate_config(
  c: ml_collections.ConfigDict, num_devices: int | None = None, num_processes: int | None = None
) -> None:
  """Raises ConfigError on the first invalid field.

  num_devices / num_processes: of the whole run (default: this JAX runtime's). Every process
  runs this before building anything, so a run that cannot work stops before its first compile.
  """
  num_devices = jax.device_count() if num_devices is None else num_devices
  processes = jax.process_count() if num_processes is None else num_processes
  for check in (_check_training, _check_model, _check_data, _check_rollout, _check_rl, _check_eval):
    check(c)
  data_size = _check_mesh(c, num_devices)
  _check_batch_split(c, data_size, processes)


def _check_training(c) -> None:
  """Step counts, the optimiser and checkpointing."""
  _check(c.num_steps >= 0, "num_steps", c.num_steps, "use 0 or more GRPO steps.")
  _check(c.warmup.steps >= 0, "warmup.steps", c.warmup.steps, "use 0 or more warm-up steps.")
  _check(c.optim.learning_rate > 0, "optim.learning_rate", c.optim.learning_rate, "use > 0.")
  _one_of(c, "optim.schedule", tuple(lr_schedules.SCHEDULES))
  _check(
    0 <= c.optim.final_lr_fraction <= 1,
    "optim.final_lr_fraction",
    c.optim.final_lr_fraction,
    "the cosine schedule ends at this fraction of optim.learning_rate; use a value in [0, 1].",
  )
  _check(c.optim.warmup_steps >= 0, "optim.warmup_steps", c.optim.warmup_steps, "use >= 0.")
  _check(c.optim.grad_clip > 0, "optim.grad_clip", c.optim.grad_clip, "use > 0.")
  _check(c.checkpoint.every >= 0, "checkpoint.every", c.checkpoint.every, "use >= 0.")


def _check_model(c) -> None:
  _check(
    c.model.hf_checkpoint or c.model.preset in PRESETS,
    "model.preset",
    c.model.preset,
    f"choose one of {sorted(PRESETS)} or set model.hf_checkpoint to a local directory.",
  )
  _one_of(c, "tokenizer.kind", ("char", "hf"))
  _check(
    c.tokenizer.kind != "hf" or bool(c.tokenizer.path),
    "tokenizer.path",
    c.tokenizer.path,
    "tokenizer.kind='hf' needs the directory holding tokenizer.json.",
  )


def _check_data(c) -> None:
  _one_of(c, "data.task", tuple(tasks.TASKS))
  _one_of(c, "data.template", tuple(templates.TEMPLATES))
  number_formats = tuple(reasoning_gym_tasks.NUMBER_FORMATS)
  _one_of(c, "data.answer_format", ("task", *number_formats))
  _check(
    c.data.answer_format == "task" or c.data.task.startswith("rg_"),
    "data.answer_format",
    c.data.answer_format,
    f"{number_formats} grade reasoning-gym tasks (rg_*) only; use 'task'.",
  )
  _check(
    c.warmup.steps == 0 or tasks.TASKS[c.data.task].has_demonstrations,
    "warmup.steps",
    c.warmup.steps,
    f"task {c.data.task!r} has no demonstrations for a warm-up; set 0.",
  )
  if c.data.task == "math":
    for field in ("dataset", "eval_dataset"):
      name, _ = tasks.split_spec(c.data[field], "")
      _one_of_value(f"data.{field}", c.data[field], name, tuple(math_builders.BUILDERS))
    _check(
      bool(c.data.manual_dir),
      "data.manual_dir",
      c.data.manual_dir,
      "task 'math' reads local files only: set the directory holding <dataset>/*.jsonl|parquet.",
    )
  _check(
    not c.data.rg_config or c.data.task.startswith("rg_"),
    "data.rg_config",
    c.data.rg_config.to_dict(),
    f"only reasoning-gym tasks (rg_*) read it; task is {c.data.task!r}.",
  )
  _check(
    c.data.train_subset == "" or "/" not in c.data.train_subset,
    "data.train_subset",
    c.data.train_subset,
    "give the subset's name (e.g. 'clustered_616'); its directory is data.subset_dir.",
  )
  _check(
    c.data.max_prompt_len > 0,
    "data.max_prompt_len",
    c.data.max_prompt_len,
    "use a positive number of tokens.",
  )


def _check_engine(c) -> None:
  """The rollout engine's settings, and that one request of the longest prompt and response fits
  its page pool (for the rollout's G and the eval's k samples), before anything compiles."""
  r = c.rollout
  _one_of(c, "rollout.engine", engines.ENGINES)
  _one_of(c, "rollout.decode_layout", sharding.DECODE_LAYOUTS)
  for field, least in (("slots", 0), ("page_size", 1), ("num_pages", 0)):
    value = r[field]
    _check(value >= least, f"rollout.{field}", value, f"use an int >= {least}.")
  if r.engine != "continuous":
    return
  engine = engines.from_config(r)
  for samples in (r.group_size, c.eval.k):
    config = sampling.SamplingConfig(
      max_new_tokens=r.max_new_tokens, num_samples=samples, eos_id=()
    )
    try:
      engine.plan(r.prompts_per_step, c.data.max_prompt_len, config)
    except ValueError as e:
      raise ConfigError(f"config.rollout.num_pages={r.num_pages!r} is invalid: {e}") from None


def _check_rollout(c) -> None:
  r = c.rollout
  _check(
    r.group_size >= 2,
    "rollout.group_size",
    r.group_size,
    "GRPO compares responses within a group; use G >= 2 (the paper uses 8-16).",
  )
  _check(
    r.prompts_per_step >= 1,
    "rollout.prompts_per_step",
    r.prompts_per_step,
    "use at least one prompt per step.",
  )
  _check(r.max_new_tokens >= 1, "rollout.max_new_tokens", r.max_new_tokens, "use >= 1.")
  _check(
    r.temperature > 0,
    "rollout.temperature",
    r.temperature,
    "use a positive temperature (RL needs sampling, not greedy decoding).",
  )
  _check(0 < r.top_p <= 1, "rollout.top_p", r.top_p, "use a value in (0, 1].")
  _check(r.top_k >= 0, "rollout.top_k", r.top_k, "use 0 (off) or a positive k.")
  _check_engine(c)
  _one_of(c, "rl.old_logp", ("recompute", "sampler"))
  if c.rl.old_logp == "sampler":
    # The sampler records log-probs of the plain policy (T = 1, untruncated); in bf16 its KV-cache
    # decode and the trainer's forward pass differ by more than rounding.
    exact = r.temperature == 1.0 and r.top_p == 1.0 and r.top_k == 0
    _check(
      exact and c.model.dtype == "float32",
      "rl.old_logp",
      c.rl.old_logp,
      "'sampler' needs rollout.temperature = 1, top_p = 1, top_k = 0 and model.dtype = float32 "
      f"(got {r.temperature}, {r.top_p}, {r.top_k}, {c.model.dtype}); use 'recompute'.",
    )


def _check_rl(c) -> None:
  """The update's choices (each a registry's keys) and its ranges."""
  rl = c.rl
  _one_of(c, "rl.advantage", tuple(advantages.ADVANTAGE_FNS))
  _one_of(c, "rl.loss_agg", losses.AGG_MODES)
  _one_of(c, "rl.pos_weight_schedule", tuple(controllers.POS_WEIGHT_SCHEDULES))
  _one_of(c, "rl.controller_reads", tuple(controllers.CONTROLLER_READS))
  _one_of(c, "rl.method", METHODS)
  _one_of(c, "rl.kl_estimator", tuple(kl.KL_ESTIMATORS))
  for field in ("eps_low", "eps_high"):
    _check(
      0 < rl[field] < 1,
      f"rl.{field}",
      rl[field],
      "the clip range ε must lie in (0, 1); to disable clipping set rl.clip=False.",
    )
  _check(
    rl.dual_clip_c == 0 or rl.dual_clip_c > 1,
    "rl.dual_clip_c",
    rl.dual_clip_c,
    "use 0 (off) or a bound c > 1 (3.0 is usual).",
  )
  for field, fix in (
    ("mini_batches", "use >= 1."),
    ("micro_batches", "use >= 1 (1 = no gradient accumulation)."),
    ("epochs", "use >= 1."),
  ):
    _check(rl[field] >= 1, f"rl.{field}", rl[field], fix)
  _check(rl.probe_every >= 0, "rl.probe_every", rl.probe_every, "use 0 (off) or K >= 1 steps.")
  _check(rl.pad_bucket >= 0, "rl.pad_bucket", rl.pad_bucket, "use 0 (off) or a bucket >= 1.")
  for field in ("pos_weight", "neg_weight", "pos_weight_init"):
    _check(0 <= rl[field] <= 1, f"rl.{field}", rl[field], "weights lie in [0, 1].")
  if rl.pos_weight_schedule == "epoch":
    _check(
      rl.pos_weight_epochs >= 2 and c.num_steps % rl.pos_weight_epochs == 0,
      "rl.pos_weight_epochs",
      rl.pos_weight_epochs,
      f"the epoch-wise schedule needs E >= 2 epochs dividing num_steps={c.num_steps}.",
    )
  if rl.pos_weight_schedule == "stage":
    _check(c.num_steps >= 2, "num_steps", c.num_steps, "the stage schedule needs >= 2 steps.")
  _check(rl.entropy_target >= 0, "rl.entropy_target", rl.entropy_target, "use δ >= 0.")
  _check(0 < rl.pos_weight_step <= 1, "rl.pos_weight_step", rl.pos_weight_step, "use Δ in (0, 1].")
  _check(0 < rl.cov_fraction < 1, "rl.cov_fraction", rl.cov_fraction, "use a fraction in (0, 1).")
  lo, hi = rl.cov_bounds
  _check(lo < hi, "rl.cov_bounds", tuple(rl.cov_bounds), "need lower < upper.")
  _check(
    0 < rl.top_entropy_fraction <= 1,
    "rl.top_entropy_fraction",
    rl.top_entropy_fraction,
    "use a fraction in (0, 1].",
  )
  _check(
    0 <= rl.rand_pos_clip_fraction <= 1,
    "rl.rand_pos_clip_fraction",
    rl.rand_pos_clip_fraction,
    "use a fraction in [0, 1].",
  )
  _check(rl.kl_coef >= 0, "rl.kl_coef", rl.kl_coef, "use 0 (off) or a positive coefficient.")
  _check(
    rl.method != "entropy_bonus" or rl.entropy_coef != 0,
    "rl.entropy_coef",
    rl.entropy_coef,
    "method 'entropy_bonus' needs a non-zero α (the paper: 0.001, 0.002, -0.001).",
  )


def _check_eval(c) -> None:
  _check(c.eval.k >= 1, "eval.k", c.eval.k, "use at least one sample per prompt.")
  # Eval prompts are replicated on every device (each process samples all of them), so their
  # batch needs no divisibility, only a size.
  for field in ("eval.num_prompts", "eval.batch_prompts"):
    _check(_get(c, field) >= 1, field, _get(c, field), "use at least one prompt.")
  bad_ks = [k for k in c.eval.pass_ks if not 1 <= k <= c.eval.k]
  _check(
    not bad_ks, "eval.pass_ks", tuple(c.eval.pass_ks), f"each k must be in [1, eval.k={c.eval.k}]."
  )


def _check_mesh(c, num_devices: int) -> int:
  """Checks mesh.shape against the device count; returns the devices of the batch axes."""
  axes = sharding.MESH_AXES
  _check(
    len(c.mesh.shape) == len(axes) and all(s == -1 or s >= 1 for s in c.mesh.shape),
    "mesh.shape",
    tuple(c.mesh.shape),
    f"give one size >= 1 (or a single -1) for each of the axes {axes}.",
  )
  try:
    mesh_shape = sharding.resolve_mesh_shape(c.mesh.shape, num_devices)
  except ValueError as e:
    _check(False, "mesh.shape", tuple(c.mesh.shape), f"{e} Use -1 for the data axis.")
  return sharding.batch_devices(dict(zip(axes, mesh_shape, strict=True)))


def _check_batch_split(c, data_size: int, processes: int) -> None:
  """The rollout batch over the batch devices, the processes, mini- and micro-batches."""
  r, rl = c.rollout, c.rl
  batch = r.prompts_per_step * r.group_size
  _check(
    batch % max(data_size, 1) == 0,
    "rollout.prompts_per_step",
    r.prompts_per_step,
    f"prompts × G = {batch} must be divisible by the {data_size} devices of the data and "
    "fsdp mesh axes; change prompts_per_step, group_size or mesh.shape.",
  )
  for field in ("rollout.prompts_per_step", "warmup.batch_size"):
    _check(
      _get(c, field) % processes == 0,
      field,
      _get(c, field),
      f"batch sizes are global and must split evenly over the {processes} processes.",
    )
  if processes > 1:
    # One process alone can replicate a batch that does not divide over the devices (a few
    # prompts on many devices); several processes each hold only their own rows, so every batch
    # they feed in (rollout prompts, warm-up demonstrations) must divide over the batch axes.
    fields = ["rollout.prompts_per_step"] + (["warmup.batch_size"] if c.warmup.steps else [])
    for field in fields:
      _check(
        _get(c, field) % data_size == 0,
        field,
        _get(c, field),
        f"with {processes} processes it must be divisible by the {data_size} devices of the data "
        "and fsdp mesh axes (each process feeds only its own rows); change it or mesh.shape.",
      )
  problem = rl_step.batch_split_problem(
    batch, rl.mini_batches, rl.micro_batches, r.group_size, rl.share_prompts
  )
  if problem is not None:
    field, fix = problem
    _check(False, f"rl.{field}", rl[field], fix)
  rows = batch // (rl.mini_batches * rl.micro_batches)
  # One process computes a micro-batch that does not divide over the devices replicated (tests
  # use tiny ones); over several hosts every host would compute every row, so it must divide.
  _check(
    processes == 1 or rows % max(data_size, 1) == 0,
    "rl.micro_batches",
    rl.micro_batches,
    f"a micro-batch of {rows} responses (prompts × G / mini_batches / micro_batches) "
    f"does not divide over the {data_size} devices of the data and fsdp mesh axes; lower "
    "rl.micro_batches or rl.mini_batches.",
  )


def _model_dir(path: str, field: str) -> str:
  """The directory behind a model path: `packaged:NAME` is converted on first use (the run needs
  it next anyway), so a missing package is reported here, naming the field."""
  try:
    return gguf_import.resolve_model_path(path)
  except (FileNotFoundError, ValueError) as e:
    raise ConfigError(f"config.{field}={path!r} is invalid: {e}") from e


def check_files(c: ml_collections.ConfigDict) -> None:
  """Start-up checks of what the config points to on disk (cheap: no file is read whole).

  Raises ConfigError naming the field when a tokenizer, checkpoint or dataset directory the run
  will read is missing, so that a wrong path costs seconds, not a compile and a data preparation.
  """
  if c.tokenizer.kind == "hf":
    path = os.path.join(_model_dir(c.tokenizer.path, "tokenizer.path"), "tokenizer.json")
    _check(os.path.isfile(path), "tokenizer.path", c.tokenizer.path, f"{path} does not exist.")
  if c.model.hf_checkpoint:
    path = os.path.join(_model_dir(c.model.hf_checkpoint, "model.hf_checkpoint"), "config.json")
    _check(
      os.path.isfile(path), "model.hf_checkpoint", c.model.hf_checkpoint, f"{path} does not exist."
    )
  if c.data.task == "math":
    for field in ("dataset", "eval_dataset"):
      name, _ = tasks.split_spec(c.data[field], "")
      directory = os.path.join(c.data.manual_dir, name)
      _check(
        bool(local_files.find_files(directory)),
        f"data.{field}",
        c.data[field],
        f"no {'/'.join(local_files.DATA_SUFFIXES)} files in {directory} (data.manual_dir).",
      )


def check_vocab(c: ml_collections.ConfigDict, tokenizer) -> None:
  """A Hugging Face checkpoint's embedding must cover every id the tokenizer can produce."""
  if not c.model.hf_checkpoint:
    return  # A preset policy takes its vocabulary size from the tokenizer.
  path = os.path.join(_model_dir(c.model.hf_checkpoint, "model.hf_checkpoint"), "config.json")
  try:
    with open(path) as f:
      model_vocab = int(json.load(f)["vocab_size"])
  except (OSError, ValueError, KeyError) as e:
    raise ConfigError(f"config.model.hf_checkpoint: cannot read vocab_size from {path}: {e}") from e
  _check(
    tokenizer.vocab_size <= model_vocab,
    "tokenizer.path",
    c.tokenizer.path,
    f"its {tokenizer.vocab_size} tokens do not fit the {model_vocab}-row embedding of "
    f"model.hf_checkpoint={c.model.hf_checkpoint!r}; use the checkpoint's own tokenizer.",
  )
