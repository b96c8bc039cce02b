"""What jax measures: the machine's f32 matmul peak and read bandwidth, jax_rlvr sampling, the GRPO
update and a plain fwd + bwd + AdamW step.

Sampling forces every row to Y new tokens (temperature 1, no truncation, EOS disabled). The GRPO
update is `rl_step.update_on_rollout`, jitted and donated as train.py does; the plain step is a
jitted, donated fwd + bwd + optax.adamw on the next-token NLL, the same work as the PyTorch peer's
(torch_side.py). Records carry achieved GFLOP/s: 2·params·tokens for sampling, 6·params·tokens for
a training step.

Shape letters (as in jax_rlvr/__init__.py): B rows sampled in parallel, Q prompts, P prompt tokens,
Y new tokens, R training rows, T training tokens per row, V.
"""

from __future__ import annotations

import itertools
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from jax_rlvr import compile_options, rl_step, train_state
from jax_rlvr.benchmarks.timing import Timer, Timing, noise, record
from jax_rlvr.models import Policy, count_params
from jax_rlvr.rl import controllers as controllers_lib
from jax_rlvr.rollout import sampling, static

JAX = "jax_rlvr"


def _timed_calls(timer: Timer, fn, *args, calls: int) -> tuple[Timing, float]:
  """(timing, compile seconds) of `calls` back-to-back calls of jitted `fn(*args)` per timed
  region (long enough for the load reading); compiled ahead and called once untimed."""
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  compile_s = time.perf_counter() - start
  jax.block_until_ready(compiled(*args))

  def run():
    for _ in range(calls):
      out = compiled(*args)
    jax.block_until_ready(out)

  return timer(run), compile_s


def matmul_peak(timer: Timer, size: int = 1024, calls: int = 8) -> dict:
  """f32 GFLOP/s of a jitted [n, n] @ [n, n] in jax; each timed region runs `calls` products so
  that it is long enough for the load reading."""
  a, b = jax.random.normal(jax.random.key(0), (2, size, size), jnp.float32)
  timing, compile_s = _timed_calls(timer, jnp.matmul, a, b, calls=calls)
  return {
    "bench": "matmul_peak",
    "peer": JAX,
    "size": size,
    "calls": calls,
    "seconds": timing.seconds,
    "gflops": 2 * size**3 * calls / timing.seconds / 1e9,
    "compile_s": compile_s,
    **noise(timing),
  }


def read_bandwidth(timer: Timer, megabytes: int = 512, calls: int = 4) -> dict:
  """GB/s at which jax reads memory: a jitted sum over an f32 array of `megabytes`, `calls` sums
  per timed region. A decode step reads every weight once, so this bounds small-batch sampling."""
  x = jnp.ones((megabytes * 2**20 // 4,), jnp.float32)
  timing, compile_s = _timed_calls(timer, jnp.sum, x, calls=calls)
  return {
    "bench": "read_bandwidth",
    "peer": JAX,
    "megabytes": megabytes,
    "calls": calls,
    "seconds": timing.seconds,
    "gb_per_s": x.nbytes * calls / timing.seconds / 1e9,
    "compile_s": compile_s,
    **noise(timing),
  }


def jax_sample(policy: Policy, prompts_BP: np.ndarray, new_tokens: int, timer: Timer) -> dict:
  """New tokens / s of `static.generate` (prefill + KV-cache decode), every row forced to Y."""
  graphdef, params = nnx.split(policy)
  prompts_BP = jnp.asarray(prompts_BP, jnp.int32)
  mask_BP = jnp.ones_like(prompts_BP)
  key = jax.random.key(0)
  config = sampling.SamplingConfig(max_new_tokens=new_tokens, temperature=1.0, eos_id=())
  start = time.perf_counter()
  compiled = static.generate.lower(graphdef, params, prompts_BP, mask_BP, key, config).compile()
  compile_s = time.perf_counter() - start
  calls = itertools.count()
  produced = []

  def run():
    out = compiled(params, prompts_BP, mask_BP, jax.random.fold_in(key, next(calls)))
    produced.append(int(jax.device_get(out.lengths_B).sum()))

  run()
  timing = timer(run)
  return record(
    timing,
    tokens=min(produced),
    flops_per_token=2 * count_params(policy),
    bench="sample",
    peer=JAX,
    batch=prompts_BP.shape[0],
    prompt_len=prompts_BP.shape[1],
    new_tokens=new_tokens,
    compile_s=compile_s,
  )


def sample_groups(policy: Policy, prompts_QP: np.ndarray, group_size: int, new_tokens: int):
  """Each of Q prompts sampled `group_size` times for exactly `new_tokens` tokens (Q GRPO groups,
  B = Q · G rows), with a fixed key."""
  graphdef, params = nnx.split(policy)
  prompts_QP = jnp.asarray(prompts_QP, jnp.int32)
  config = sampling.SamplingConfig(max_new_tokens=new_tokens, num_samples=group_size, eos_id=())
  return static.generate(
    graphdef, params, prompts_QP, jnp.ones_like(prompts_QP), jax.random.key(1), config
  )


def jax_grpo_update(
  policy: Policy, rollout, rl_config: ml_collections.ConfigDict, timer: Timer
) -> dict:
  """Seconds of one jitted, donated `rl_step.update_on_rollout` on `rollout` (R rows).

  `rl_config` supplies rl.* and optim.* (e.g. configs/common.py's base); its rollout.group_size
  must be the rollout's G (R = Q · G). Rewards alternate 1, 0 so that every group of even size has
  advantages of both signs.
  """
  graphdef, params = nnx.split(policy)
  params = jax.tree.map(jnp.copy, params)  # donated below; the policy keeps its own
  hp = rl_step.RLHyperParams.from_config(rl_config)
  rows = rollout.response_tokens_BY.shape[0]
  rewards_B = jnp.asarray(np.arange(rows) % 2 == 0, jnp.float32)
  # train.py's RL optimiser (clipping + AdamW); warm-up 1 makes every call a full step.
  optimizer = train_state.make_optimizer(rl_config.optim.learning_rate, 1, rl_config.optim)
  update = rl_step.jit_update(graphdef, optimizer, hp, donate=True)
  state = [params, optimizer.init(params), controllers_lib.init_controllers(hp)]
  key = jax.random.key(2)
  start = time.perf_counter()
  compiled = update.lower(*state, None, rollout, rewards_B, key).compile()
  compile_s = time.perf_counter() - start

  def run():
    state[:] = compiled(*state, None, rollout, rewards_B, key)[:3]
    jax.block_until_ready(state)

  run()
  timing = timer(run)
  length = rollout.prompt_tokens_BP.shape[1] + rollout.response_tokens_BY.shape[1]
  return record(
    timing,
    tokens=rows * length,
    flops_per_token=6 * count_params(policy),
    bench="train_step",
    work="grpo_update",
    peer=JAX,
    rows=rows,
    length=length,
    compile_s=compile_s,
  )


def adamw_args(learning_rate: float) -> dict:
  """The AdamW both plain steps use (torch's defaults, decay off)."""
  return dict(learning_rate=learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0)


def jax_train_step(policy: Policy, tokens_RT: np.ndarray, timer: Timer, lr: float = 1e-5) -> dict:
  """Seconds of a jitted, donated fwd + bwd + optax.adamw step on the next-token NLL of R × T."""
  graphdef, params = nnx.split(policy)
  params = jax.tree.map(jnp.copy, params)
  tokens_RT = jnp.asarray(tokens_RT, jnp.int32)
  optimizer = optax.adamw(**adamw_args(lr))

  def step(params, opt_state, tokens_RT):
    def loss_fn(params):
      logits_RTV = nnx.merge(graphdef, params)(tokens_RT[:, :-1])
      logp_RTV = jax.nn.log_softmax(logits_RTV, axis=-1)
      return -jnp.mean(jnp.take_along_axis(logp_RTV, tokens_RT[:, 1:, None], axis=-1))

    grads = jax.grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  state = [params, optimizer.init(params)]
  start = time.perf_counter()
  compiled = jax.jit(step, donate_argnums=(0, 1), compiler_options=compile_options.training())
  compiled = compiled.lower(*state, tokens_RT).compile()
  compile_s = time.perf_counter() - start

  def run():
    state[:] = compiled(*state, tokens_RT)
    jax.block_until_ready(state)

  run()
  timing = timer(run)
  return record(
    timing,
    tokens=tokens_RT.size,
    flops_per_token=6 * count_params(policy),
    bench="train_step",
    work="fwd_bwd_adamw",
    peer=JAX,
    rows=tokens_RT.shape[0],
    length=tokens_RT.shape[1],
    compile_s=compile_s,
  )
