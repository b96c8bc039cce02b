"""GRPO training: `train_and_evaluate(config, workdir)`.

One run = `config.warmup.steps` supervised warm-up steps on noisy demonstrations (skipped when 0),
then `config.num_steps` GRPO iterations. One GRPO iteration samples G responses for each of Q
prompts, grades them, computes group advantages, recomputes old log-probs with a forward pass of
the sampling policy, and takes mini_batches × epochs gradient steps (the paper's N) on that rollout
batch.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G samples per prompt, B = Q·G responses,
Y response tokens.

Steps are counted globally: warm-up steps 1..W, then GRPO steps W+1..W+num_steps; metrics.jsonl
records both (`phase` = "warmup" | "rl"), with `rl_step` counting GRPO iterations from 1.
"""

from __future__ import annotations

import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tqdm
from absl import logging
from flax import nnx

from jax_rlvr import (
  checkpointing,
  compile_options,
  components,
  config_validation,
  evaluate,
  metric_writer,
  plotting,
  probe,
  run_summary,
  sharding,
  tasks,
)
from jax_rlvr import rl_step as rl_step_lib
from jax_rlvr import train_state as train_state_lib
from jax_rlvr.data import batching
from jax_rlvr.models import scoring
from jax_rlvr.rl import controllers as controllers_lib
from jax_rlvr.rollout import engines, sampling
from jax_rlvr.train_state import TrainState


def warmup_step(state: TrainState, batch, *, graphdef, optimizer):
  """One supervised step: mean token NLL of the demonstration (response) tokens."""

  def loss_fn(params):
    policy = nnx.merge(graphdef, params)
    logp_BY, _ = scoring.response_logprobs(
      policy,
      batch["prompt_tokens"],
      batch["prompt_mask"],
      batch["response_tokens"],
      batch["response_mask"],
    )
    mask = batch["response_mask"].astype(jnp.float32)
    return -jnp.sum(logp_BY * mask) / jnp.maximum(mask.sum(), 1.0)

  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = {"sft_loss": loss, "grad_norm": optax.tree.norm(grads)}
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def rl_update(state: TrainState, rollout, rewards_B, *, graphdef, optimizer, hp):
  """Advantages, old log-probs and the gradient steps on one rollout batch; updates controllers."""
  key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
  params, opt_state, controllers, metrics = rl_step_lib.update_on_rollout(
    state.params,
    state.opt_state,
    state.controllers,
    state.ref_params,
    rollout,
    rewards_B,
    key,
    graphdef=graphdef,
    optimizer=optimizer,
    hp=hp,
  )
  new_state = state.replace(
    step=state.step + 1, params=params, opt_state=opt_state, controllers=controllers
  )
  return new_state, metrics


class Trainer:
  """Holds the jitted functions, data and writers of one run."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, *, read_only: bool = False):
    """read_only: for evaluating a run; its config.json and checkpoints are left untouched."""
    config_validation.validate_config(config)
    config_validation.check_files(config)
    self.config = config
    self.workdir = workdir
    os.makedirs(workdir, exist_ok=True)
    self.is_main = jax.process_index() == 0
    if self.is_main and not read_only:
      with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2))

    self.mesh = sharding.make_mesh(config.mesh.shape)
    self.tokenizer = components.build_tokenizer(config)
    config_validation.check_vocab(config, self.tokenizer)
    # Data before the policy: a malformed data file stops the run before the first compile.
    self.task = tasks.build_task(config)
    self.train_iter, self.warmup_iter, self.eval_records = components.build_data(
      config, workdir, self.task
    )
    # All of the policy's state is parameters: graphdef + params is the whole policy.
    self.graphdef, params = components.build_sharded_policy(config, self.tokenizer, self.mesh)
    if self.is_main:
      sharding.log_shardings(params)
    sharding.check_sharded(params, self.mesh)
    self.warmup_optimizer = train_state_lib.warmup_optimizer(config)
    self.rl_optimizer = train_state_lib.rl_optimizer(config)
    self.hp = rl_step_lib.RLHyperParams.from_config(config)
    self.sampling_config = components.sampling_config(
      config, eos_ids=self.tokenizer.eos_ids, pad_id=self.tokenizer.pad_id
    )
    self.engine = engines.from_config(config.rollout)
    self.initial_state = train_state_lib.init_state(
      config, params, self.warmup_optimizer, self.hp, self.mesh
    )
    self.state_shardings = jax.tree.map(lambda x: x.sharding, self.initial_state)
    # Rollouts leave the sampler split over the batch axes, so each process finds its own rows.
    self._batch_sharded = jax.jit(functools.partial(sharding.constrain_batch, mesh=self.mesh))
    self._warmup_step = jax.jit(
      functools.partial(warmup_step, graphdef=self.graphdef, optimizer=self.warmup_optimizer),
      out_shardings=(self.state_shardings, None),
      donate_argnums=0,
      compiler_options=compile_options.training(),
    )
    self._rl_update = jax.jit(
      functools.partial(rl_update, graphdef=self.graphdef, optimizer=self.rl_optimizer, hp=self.hp),
      out_shardings=(self.state_shardings, None),
      donate_argnums=0,
      compiler_options=compile_options.training(),
    )
    self.checkpointer = checkpointing.Checkpointer(
      workdir,
      every=config.checkpoint.every,
      max_to_keep=config.checkpoint.max_to_keep,
      read_only=read_only,
      renamed_keys=train_state_lib.RENAMED_KEYS,
    )

  # -- state -------------------------------------------------------------------------------------

  def restore_or_init(self) -> TrainState:
    """The newest readable checkpoint's state (damaged ones are moved aside), else a fresh one."""
    restored = self.checkpointer.restore_latest(self.initial_state)
    if restored is None:
      return self.initial_state
    _, state, meta = restored
    self.train_iter.set_state(meta["data"])
    if self.warmup_iter is not None:
      self.warmup_iter.set_state(meta["warmup_data"])
    return state

  def start_rl(self, state: TrainState) -> TrainState:
    """At the warm-up -> RL boundary: fresh RL optimiser state and controllers, reference policy
    = current. Controllers are re-made from this run's config (the warm-up never moves them), so a
    warm-up checkpoint can seed runs whose λ_0 or entropy coefficient differ."""
    return state.replace(
      controllers=sharding.on_mesh(controllers_lib.init_controllers(self.hp), self.mesh),
      # Born like the warm-up optimiser state (same structure and shardings), so the jitted
      # steps see the same shardings on every call and compile once.
      opt_state=sharding.init_optimizer_state(self.rl_optimizer, state.params, self.mesh),
      # A copy: the train state is donated to the update, and one buffer cannot be donated twice.
      ref_params=jax.tree.map(jnp.copy, state.params) if self.config.rl.kl_coef > 0 else None,
    )

  def save(self, state: TrainState, *, force: bool = False):
    step = int(state.step)
    if not bool(_all_finite(state)):
      raise FloatingPointError(
        f"Non-finite parameters or optimiser state after step {step}; not checkpointed. "
        "Lower optim.learning_rate (or warmup.learning_rate) or check the data."
      )
    meta = {"data": self.train_iter.get_state()}
    if self.warmup_iter is not None:
      meta["warmup_data"] = self.warmup_iter.get_state()
    return self.checkpointer.save(step, state, meta, force=force)

  # -- one step of each phase --------------------------------------------------------------------

  def warmup_batch(self):
    c = self.config
    batch = next(self.warmup_iter)
    pt, pm = batching.encode_prompts(
      self.tokenizer, batch["prompt"], c.data.max_prompt_len, c.data.template
    )
    ids = [self.tokenizer.encode(r, add_eos=True) for r in batch["response"]]
    rt, rm = batching.pad_tokens(
      ids, c.rollout.max_new_tokens, self.tokenizer.pad_id, left=False, what="demonstration"
    )
    batch = {"prompt_tokens": pt, "prompt_mask": pm, "response_tokens": rt, "response_mask": rm}
    return self.shard_batch(batch)

  def shard_batch(self, tree):
    """This process's share of a batch (leading dimension) -> global arrays split over
    data × fsdp. A batch that does not divide over those devices (a few prompts on many devices)
    is replicated instead, which only a single process can do."""
    size = sharding.batch_devices(self.mesh.shape)
    rows = jax.tree.leaves(tree)[0].shape[0] * jax.process_count()
    if rows % size == 0:
      return sharding.host_batch_to_global(self.mesh, tree)
    if jax.process_count() > 1:
      raise ValueError(
        f"A batch of {rows} rows does not divide over the {size} devices of the data and fsdp "
        "mesh axes; with several processes it must (change rollout.prompts_per_step or mesh)."
      )
    return sharding.host_replicated_to_global(self.mesh, tree)

  def sample_and_grade(self, state: TrainState, step: int):
    """The next training prompts' rollout under `state.params` (sampling key of global `step`),
    graded: returns (rollout, rewards_B sharded, texts, host metrics of the rollout)."""
    c = self.config
    t0 = time.perf_counter()
    batch = next(self.train_iter)
    prompt_tokens, prompt_mask = batching.encode_prompts(
      self.tokenizer, list(batch["prompt"]), c.data.max_prompt_len, c.data.template
    )
    key = jax.random.fold_in(jax.random.wrap_key_data(state.key), step)
    prompt_tokens, prompt_mask = self.shard_batch((prompt_tokens, prompt_mask))
    t_generate = time.perf_counter()
    out = self.engine.generate(
      self.graphdef,
      state.params,
      prompt_tokens,
      prompt_mask,
      jax.random.fold_in(key, 1),
      self.sampling_config,
    )
    out = self._batch_sharded(out)
    if c.rl.pad_bucket:
      out = sampling.trim_padding(out, c.rl.pad_bucket)
    # Each process decodes and grades the rows it sampled.
    response_tokens, lengths = sharding.global_batch_to_host(
      (out.response_tokens_BY, out.lengths_B)
    )
    t1 = time.perf_counter()
    answers = np.repeat(np.asarray(batch["answer"]), c.rollout.group_size)
    texts = [
      self.tokenizer.decode(response_tokens[i, : lengths[i]], skip_special_tokens=True)
      for i in range(len(lengths))
    ]
    rewards = np.asarray(self.task.grade(texts, [str(a) for a in answers]), np.float32)
    groups_QG = rewards.reshape(-1, c.rollout.group_size)
    host_metrics = {
      "time_sample_s": t1 - t0,
      "time_generate_s": t1 - t_generate,  # the compiled sampler, up to its tokens on the host
      "time_grade_s": time.perf_counter() - t1,
      "mixed_groups": float(np.mean(groups_QG.max(1) > groups_QG.min(1))),
    }
    return out, self.shard_batch(rewards), texts, host_metrics

  def run_probe(self, state: TrainState, rollout, rewards_B, named_hps, *, heldout=None):
    """`probe.run_probe` from `state` on one rollout batch (the state is left as it was)."""
    return probe.run_probe(
      state.params,
      state.opt_state,
      state.controllers,
      rollout,
      rewards_B,
      jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step),
      named_hps,
      graphdef=self.graphdef,
      optimizer=self.rl_optimizer,
      ref_params=state.ref_params,
      heldout=heldout,
      num_chunks=self.hp.micro_batches,
    )

  def rl_iteration(self, state: TrainState):
    c = self.config
    out, rewards, texts, host_metrics = self.sample_and_grade(state, int(state.step))
    rl_steps = int(state.step) + 1 - c.warmup.steps
    if c.rl.probe_every and rl_steps % c.rl.probe_every == 0:
      # Before the update, which donates the state.
      t = time.perf_counter()
      batch_size = c.rollout.prompts_per_step * c.rollout.group_size
      records = self.run_probe(state, out, rewards, probe.variants(self.hp, batch_size))
      host_metrics.update(probe.sign_probe_metrics(records), time_probe_s=time.perf_counter() - t)
    t2 = time.perf_counter()
    state, metrics = self._rl_update(state, out, rewards)
    metrics = sharding.global_to_host(metrics)
    metrics.update(
      time_train_s=time.perf_counter() - t2,
      reward_mean=float(metrics.pop("reward_mean")),
      accuracy=float(metrics.pop("accuracy")),
      **host_metrics,
    )
    return state, metrics, texts[0]

  # -- the loop ----------------------------------------------------------------------------------

  def evaluate(self, state: TrainState) -> dict:
    with jax.set_mesh(self.mesh):
      return self._evaluate(state)

  def _evaluate(self, state: TrainState) -> dict:
    return evaluate.evaluate_policy(
      self.graphdef,
      state.params,
      self.eval_records,
      self.tokenizer,
      self.task,
      self.config,
      key=evaluate.eval_key(self.config),
    )

  def run(self, *, stop_after: int | None = None) -> dict:
    """Trains to the end, or until SIGTERM or `stop_after` total steps (then exits as if
    preempted: checkpoint, no final eval). Returns a summary dict."""
    # The mesh in context turns on the policy's activation sharding (sharding.constrain) in every
    # program traced from here.
    with jax.set_mesh(self.mesh):
      return self._run(stop_after)

  def _run(self, stop_after: int | None) -> dict:
    c = self.config
    state = self.restore_or_init()
    start = int(state.step)
    total = c.warmup.steps + c.num_steps
    writer = metric_writer.MetricWriter(self.workdir, enabled=self.is_main, truncate_from=start + 1)
    eval_writer = metric_writer.MetricWriter(
      self.workdir, "eval", enabled=self.is_main, truncate_from=start + 1
    )
    preempt = checkpointing.PreemptionFlag().install()
    bar = tqdm.tqdm(
      total=total, initial=start, desc="train", dynamic_ncols=True, disable=not self.is_main
    )
    t_start = time.time()
    stopped_early = False
    silent_steps = 0  # consecutive GRPO steps whose every group had equal rewards
    try:
      while int(state.step) < total:
        t_step = time.perf_counter()
        step = int(state.step)
        if step < c.warmup.steps:
          state, metrics = self._warmup_step(state, self.warmup_batch())
          metrics = {"phase": "warmup", **jax.device_get(metrics)}
          bar.set_postfix(phase="warmup", loss=f"{metrics['sft_loss']:.3f}")
        else:
          if step == c.warmup.steps:
            state = self.start_rl(state)
            if not self._eval_done(step):
              self._log_eval(eval_writer, step, state)
          state, metrics, example = self.rl_iteration(state)
          metrics = {"phase": "rl", "rl_step": step + 1 - c.warmup.steps, **metrics}
          bar.set_postfix(
            reward=f"{metrics['reward_mean']:.2f}",
            entropy=f"{metrics['entropy']:.3f}",
            pos_weight=f"{metrics['pos_weight']:.2f}",
          )
          silent_steps = 0 if metrics["mixed_groups"] > 0 else silent_steps + 1
          if silent_steps == NO_SIGNAL_STEPS:
            warn_no_signal(rl_step=metrics["rl_step"], reward=metrics["reward_mean"])
          rl_steps = step + 1 - c.warmup.steps
          if c.eval.every and rl_steps % c.eval.every == 0 and step + 1 < total:
            self._log_eval(eval_writer, step + 1, state)
        # Up to here: everything but the metrics write and the checkpoint save.
        metrics["time_step_s"] = time.perf_counter() - t_step
        try:
          self._check_finite(metrics, step + 1)
          writer.write(step + 1, metrics)
          bar.update(1)
          self.save(state)
        except FloatingPointError:
          state = None  # The state of a non-finite step is never checkpointed (see finally).
          raise
        if preempt.is_set() or (stop_after is not None and int(state.step) >= stop_after):
          logging.warning("Preempted at step %d: saving and exiting.", int(state.step))
          stopped_early = True
          break
      if not stopped_early and not self._eval_done(total):
        self._log_eval(eval_writer, total, state)
    finally:
      bar.close()
      if state is not None:
        self.save(state, force=True)
      self.checkpointer.close()
      writer.close()
      eval_writer.close()
      preempt.uninstall()
    summary = {
      "stopped_early": stopped_early,
      "step": int(state.step),
      "wall_time_s": time.time() - t_start,
    }
    if not stopped_early and self.is_main:
      summary.update(run_summary.summarize(self.workdir, self.config.eval.k))
      plotting.plot_run(self.workdir)
    return summary

  def _eval_done(self, step: int) -> bool:
    return any(
      r.get("step") == step
      for r in metric_writer.read_jsonl(os.path.join(self.workdir, "eval.jsonl"))
    )

  def _log_eval(self, eval_writer, step: int, state: TrainState):
    result = self.evaluate(state)
    eval_writer.write(step, {"rl_step": step - self.config.warmup.steps, **result})
    logging.info("eval at step %d: %s", step, json.dumps(result))

  @staticmethod
  def _check_finite(metrics: dict, step: int):
    for key in ("sft_loss", "loss", "grad_norm", "approx_kl"):
      if key in metrics and not np.isfinite(metrics[key]):
        raise FloatingPointError(
          f"Non-finite {key}={metrics[key]} at step {step}; stopping before it reaches a "
          "checkpoint. Lower optim.learning_rate (warm-up: warmup.learning_rate) or check the data."
        )


# Consecutive steps without a learning signal before the loop warns (once per streak).
NO_SIGNAL_STEPS = 3


def warn_no_signal(rl_step: int, reward: float):
  """Every group's rewards were equal for NO_SIGNAL_STEPS steps: advantages and gradients are 0."""
  message = (
    f"No learning signal in GRPO steps {rl_step - NO_SIGNAL_STEPS + 1}-{rl_step}: every group's "
    f"rewards were equal (reward {reward:.2f}), so every advantage and gradient was 0. If the "
    "reward is 0, the task is too hard or the answer is not found (check data.template, "
    "data.answer_format, rollout.max_new_tokens); if 1, too easy."
  )
  logging.warning(message)
  tqdm.tqdm.write("WARNING: " + message)


@jax.jit
def _all_finite(tree) -> jax.Array:
  """Whether every floating-point leaf of `tree` is finite (one scalar for the whole state)."""
  floats = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in floats]))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs (or resumes) the configured training in `workdir`; returns a short summary dict, also
  written to `workdir`/summary.json (a sweep skips a run whose summary says it finished)."""
  summary = Trainer(config, workdir).run()
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2)
  return summary
