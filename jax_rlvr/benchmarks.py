"""Side-by-side benchmarks of jax_rlvr against transformers / PyTorch on the same weights, inputs.

`compare` measures, in one run on one machine: the f32 matmul peak (jax, n³), jax_rlvr sampling vs
transformers `generate` at several batch sizes (N forced new tokens, temperature 1, no truncation,
EOS disabled on both sides), and on the same R × T tokens the jax_rlvr GRPO update
(`rl_step.update_on_rollout`, jitted and donated as train.py does) and a plain jax fwd + bwd +
AdamW step vs a PyTorch fwd + bwd + `torch.optim.AdamW` step. Both peers load one HF checkpoint
directory; without one, random weights of a preset are written to a temporary directory first.

Every measurement is one record (a JSON-ready dict): the median seconds of `repeats` timed calls
after compilation and one untimed warm-up call (compile / warm-up seconds are reported on their
own), tokens per second, achieved GFLOP/s (2·params·tokens for sampling, 6·params·tokens for a
training step) and its share of the measured matmul peak, and the machine's noise: the CPU cores
other processes used during each timed region. A region where others used more than `threshold`
cores is timed again, within a budget of `max_retimes` per measurement; a record whose kept
regions are still contended says `contended: true`.

Shape letters (as in jax_rlvr/__init__.py): B rows sampled in parallel, Q prompts, P prompt
tokens, N new tokens, R training rows, T training tokens per row, V.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import importlib.util
import itertools
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from jax_rlvr import compile_options, rl_step, sampling, train_state
from jax_rlvr.models import Policy, count_params, get_preset, load_hf_checkpoint, save_hf_checkpoint
from jax_rlvr.models.config import PRESETS
from jax_rlvr.models.gguf_import import resolve_model_path
from jax_rlvr.rl import controllers as controllers_lib

JAX = "jax_rlvr"
TRANSFORMERS = "transformers"
TORCH = "torch"

# --- timing and noise --------------------------------------------------------------------------


def cpu_seconds() -> tuple[float, float] | None:
  """(busy CPU seconds of the whole machine, CPU seconds of this process), or None without /proc.

  Busy = user + nice + system + irq + softirq + steal of /proc/stat (guest time is inside user);
  this process's share is utime + stime of /proc/self/stat, all threads included.
  """
  try:
    with open("/proc/stat") as f:
      fields = f.readline().split()
    with open("/proc/self/stat") as f:
      # The command name (field 2) may contain spaces; the fields after it are space-separated.
      own = f.read().rsplit(")", 1)[1].split()
  except OSError:
    return None
  user, nice, system, _, _, irq, softirq, steal = map(int, fields[1:9])
  tick = os.sysconf("SC_CLK_TCK")
  # utime and stime are fields 14 and 15 of the full line, 12 and 13 after the name.
  return (user + nice + system + irq + softirq + steal) / tick, (int(own[11]) + int(own[12])) / tick


@dataclasses.dataclass(frozen=True)
class Timing:
  """Timed repeats of one measurement.

  seconds: median of `times`, the kept regions (one per repeat).
  others_cores: CPU cores other processes used during each kept region (None without /proc).
  retimes: regions discarded as contended and timed again.
  contended: some kept region still had others above the threshold (the retime budget ran out).
  """

  seconds: float
  times: tuple[float, ...]
  others_cores: tuple[float | None, ...]
  retimes: int
  contended: bool


def time_repeats(
  fn: Callable[[], object],
  repeats: int,
  *,
  threshold: float = 0.2,
  max_retimes: int = 3,
  clock: Callable[[], float] = time.perf_counter,
  cpu: Callable[[], tuple[float, float] | None] = cpu_seconds,
) -> Timing:
  """Times `repeats` calls of `fn` (which must block until its work is done).

  A call during which other processes used more than `threshold` cores is discarded and timed
  again, at most `max_retimes` times over the whole measurement; after that contended calls are
  kept and the result is marked `contended`. The load reading has the kernel tick's resolution
  (10 ms at the usual 100 Hz), so regions much shorter than ~0.1 s read coarsely.
  """
  times, loads, retimes = [], [], 0
  while len(times) < repeats:
    before = cpu()
    start = clock()
    fn()
    elapsed = clock() - start
    after = cpu()
    others = None
    if before is not None and after is not None and elapsed > 0:
      others = max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / elapsed
    if others is not None and others > threshold and retimes < max_retimes:
      retimes += 1
      continue
    times.append(elapsed)
    loads.append(others)
  return Timing(
    seconds=statistics.median(times),
    times=tuple(times),
    others_cores=tuple(loads),
    retimes=retimes,
    contended=any(load is not None and load > threshold for load in loads),
  )


Timer = Callable[[Callable[[], object]], Timing]


def _noise(timing: Timing) -> dict:
  loads = [x for x in timing.others_cores if x is not None]
  return {
    "times": list(timing.times),
    # Rounded: the /proc counters resolve 10 ms, so the float residue below that means nothing.
    "others_cores_max": round(max(loads), 3) if loads else None,
    "retimes": timing.retimes,
    "contended": timing.contended,
  }


def _record(timing: Timing, *, tokens: int, flops_per_token: float, **fields) -> dict:
  """One measurement as a JSON-ready dict; `tokens` are produced (sampling) or trained per call."""
  return {
    **fields,
    "tokens": tokens,
    "seconds": timing.seconds,
    "tokens_per_s": tokens / timing.seconds,
    "gflops": flops_per_token * tokens / timing.seconds / 1e9,
    **_noise(timing),
  }


# --- the measurements ----------------------------------------------------------------------------


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
    **_noise(timing),
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
    **_noise(timing),
  }


def sampling_roofline(params: int, batch: int, peak_gflops: float, gb_per_s: float) -> float:
  """New tokens / s a decode step could reach at most: it reads the f32 weights once (4 · params
  bytes at `gb_per_s`) and computes 2 · params FLOPs per row (at `peak_gflops`), whichever takes
  longer. Attention and the KV cache are left out (small at these lengths)."""
  step_s = max(4 * params / (gb_per_s * 1e9), 2 * params * batch / (peak_gflops * 1e9))
  return batch / step_s


def jax_sample(policy: Policy, prompts_BP: np.ndarray, new_tokens: int, timer: Timer) -> dict:
  """New tokens / s of `sampling.generate` (prefill + KV-cache decode), every row forced to N."""
  graphdef, params = nnx.split(policy)
  prompts_BP = jnp.asarray(prompts_BP, jnp.int32)
  mask_BP = jnp.ones_like(prompts_BP)
  key = jax.random.key(0)
  config = sampling.SamplingConfig(max_new_tokens=new_tokens, temperature=1.0, eos_id=())
  start = time.perf_counter()
  compiled = sampling.generate.lower(graphdef, params, prompts_BP, mask_BP, key, config).compile()
  compile_s = time.perf_counter() - start
  calls = itertools.count()
  produced = []

  def run():
    out = compiled(params, prompts_BP, mask_BP, jax.random.fold_in(key, next(calls)))
    produced.append(int(jax.device_get(out.lengths_B).sum()))

  run()
  timing = timer(run)
  return _record(
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


def hf_sample(model, prompts_BP: np.ndarray, new_tokens: int, timer: Timer) -> dict:
  """New tokens / s of transformers `generate` at temperature 1 (no top-k / top-p) on a
  `load_hf_model` model (no EOS: every row gets N tokens)."""
  import torch

  ids_BP = torch.as_tensor(prompts_BP, dtype=torch.long)
  produced = []

  def run():
    with torch.inference_mode():
      out = model.generate(
        input_ids=ids_BP,
        attention_mask=torch.ones_like(ids_BP),
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=new_tokens,
      )
    produced.append((out.shape[1] - ids_BP.shape[1]) * out.shape[0])

  start = time.perf_counter()
  run()
  warmup_s = time.perf_counter() - start
  timing = timer(run)
  return _record(
    timing,
    tokens=min(produced),
    flops_per_token=2 * _torch_params(model),
    bench="sample",
    peer=TRANSFORMERS,
    batch=prompts_BP.shape[0],
    prompt_len=prompts_BP.shape[1],
    new_tokens=new_tokens,
    warmup_s=warmup_s,
  )


def _rollout(policy: Policy, prompt_QP: np.ndarray, rows: int, new_tokens: int):
  """One prompt sampled `rows` times for exactly `new_tokens` tokens (a GRPO group of R rows)."""
  graphdef, params = nnx.split(policy)
  prompt_QP = jnp.asarray(prompt_QP, jnp.int32)
  config = sampling.SamplingConfig(max_new_tokens=new_tokens, num_samples=rows, eos_id=())
  return sampling.generate(
    graphdef, params, prompt_QP, jnp.ones_like(prompt_QP), jax.random.key(1), config
  )


def jax_grpo_update(
  policy: Policy, rollout, rl_config: ml_collections.ConfigDict, timer: Timer
) -> dict:
  """Seconds of one jitted `rl_step.update_on_rollout` on `rollout` (R rows of one group).

  `rl_config` supplies rl.* and optim.* (e.g. configs/common.py's base); its group size must be
  R. Rewards alternate 1, 0 so the group has advantages of both signs.
  """
  graphdef, params = nnx.split(policy)
  params = jax.tree.map(jnp.copy, params)  # donated below; the policy keeps its own
  hp = rl_step.RLHyperParams.from_config(rl_config)
  rows = rollout.response_tokens_BN.shape[0]
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
  length = rollout.prompt_tokens_BP.shape[1] + rollout.response_tokens_BN.shape[1]
  return _record(
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


def _adamw_args(learning_rate: float) -> dict:
  """The AdamW both plain steps use (torch's defaults, decay off)."""
  return dict(learning_rate=learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0)


def jax_train_step(policy: Policy, tokens_RT: np.ndarray, timer: Timer, lr: float = 1e-5) -> dict:
  """Seconds of a jitted, donated fwd + bwd + optax.adamw step on the next-token NLL of R × T."""
  graphdef, params = nnx.split(policy)
  params = jax.tree.map(jnp.copy, params)
  tokens_RT = jnp.asarray(tokens_RT, jnp.int32)
  optimizer = optax.adamw(**_adamw_args(lr))

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
  return _record(
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


def torch_train_step(model, tokens_RT: np.ndarray, timer: Timer, lr: float = 1e-5) -> dict:
  """Seconds of a PyTorch fwd + bwd + torch.optim.AdamW step on the next-token NLL of R × T."""
  import torch

  args = _adamw_args(lr)
  optimizer = torch.optim.AdamW(
    model.parameters(),
    lr=args["learning_rate"],
    betas=(args["b1"], args["b2"]),
    eps=args["eps"],
    weight_decay=args["weight_decay"],
  )
  ids_RT = torch.as_tensor(tokens_RT, dtype=torch.long)
  model.train()

  def run():
    loss = model(input_ids=ids_RT, labels=ids_RT).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)

  start = time.perf_counter()
  run()  # allocates AdamW's moments
  warmup_s = time.perf_counter() - start
  timing = timer(run)
  model.eval()
  return _record(
    timing,
    tokens=ids_RT.numel(),
    flops_per_token=6 * _torch_params(model),
    bench="train_step",
    work="fwd_bwd_adamw",
    peer=TORCH,
    rows=tokens_RT.shape[0],
    length=tokens_RT.shape[1],
    warmup_s=warmup_s,
  )


def _torch_params(model) -> int:
  # Tied embeddings appear once in parameters(), as in count_params.
  return sum(p.numel() for p in model.parameters())


def load_hf_model(path: str):
  """A transformers causal LM in float32 from a local directory (never the network).

  The checkpoint's generation defaults (EOS, top-k, repetition penalty, ...) are replaced by
  transformers' plain ones without an EOS, as jax_rlvr samples with `eos_id=()`: `generate` then
  draws from the unmodified temperature-1 distribution and never stops early.
  """
  import torch
  import transformers

  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
  model.generation_config = transformers.GenerationConfig(pad_token_id=0)
  return model.eval()


def torch_available() -> bool:
  return all(importlib.util.find_spec(m) is not None for m in (TORCH, TRANSFORMERS))


# --- the run -------------------------------------------------------------------------------------


def machine_info() -> dict:
  """CPU model, cores, commit of this checkout, date and library versions."""
  cpu = "unknown"
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
  except OSError:
    pass
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    commit = subprocess.run(
      ["git", "-C", repo, "rev-parse", "--short", "HEAD"],
      capture_output=True,
      text=True,
      check=True,
    ).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    commit = "unknown"
  info = {
    "cpu": cpu,
    "cores": os.cpu_count(),
    "commit": commit,
    "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    "jax": jax.__version__,
    "jax_device": str(jax.devices()[0].device_kind),
  }
  if torch_available():
    import torch
    import transformers

    info.update(torch=torch.__version__, transformers=transformers.__version__)
    info["torch_threads"] = torch.get_num_threads()
  return info


def compare(
  rl_config: ml_collections.ConfigDict,
  *,
  model: str = "smollm2-135m-shape",
  batches: Sequence[int] = (1, 8, 32, 64),
  new_tokens: int = 64,
  prompt_len: int = 16,
  train_rows: int = 8,
  train_len: int = 128,
  repeats: int = 3,
  matmul_size: int = 1024,
  bandwidth_mb: int = 512,
  threshold: float = 0.2,
  max_retimes: int = 3,
  seed: int = 0,
  peers: bool = True,
  emit: Callable[[dict], None] = lambda record: None,
) -> list[dict]:
  """Runs every measurement; returns the records (the first is the setup), each also `emit`ted.

  model: a preset name (random weights, saved to a temporary HF directory), an HF checkpoint
    directory or `packaged:NAME`.
  rl_config: rl.* / optim.* of the GRPO update; its rollout.group_size is set to `train_rows`.
  bandwidth_mb: the array read to measure memory bandwidth (sampling's roofline).
  train_rows × train_len: the training tokens, the first train_len // 2 a shared prompt;
    train_rows = 0 skips the training rows.
  peers: include transformers / PyTorch (skipped when they are not installed).
  """
  timer = functools.partial(
    time_repeats, repeats=repeats, threshold=threshold, max_retimes=max_retimes
  )
  peers = peers and torch_available()
  with tempfile.TemporaryDirectory() as tmp:
    if model in PRESETS:
      path = os.path.join(tmp, model)
      save_hf_checkpoint(Policy(get_preset(model), rngs=nnx.Rngs(seed)), path)
    else:
      path = resolve_model_path(model)
    policy = load_hf_checkpoint(path, jnp.float32)
    hf_model = load_hf_model(path) if peers else None
  vocab = policy.cfg.vocab_size
  records = []

  def add(record):
    if "gflops" in record and record["bench"] != "matmul_peak":
      record["pct_peak"] = 100 * record["gflops"] / records[1]["gflops"]
    if record["bench"] == "sample":
      roofline = sampling_roofline(
        records[0]["params"], record["batch"], records[1]["gflops"], records[2]["gb_per_s"]
      )
      record["roofline_tokens_per_s"] = roofline
      record["pct_roofline"] = 100 * record["tokens_per_s"] / roofline
    records.append(record)
    emit(record)

  add(
    {
      "bench": "setup",
      "model": model,
      "weights": "random" if model in PRESETS else path,
      "params": count_params(policy),
      "repeats": repeats,
      "threshold_cores": threshold,
      "max_retimes": max_retimes,
      **machine_info(),
    }
  )
  add(matmul_peak(timer, matmul_size))
  add(read_bandwidth(timer, bandwidth_mb))
  rng = np.random.default_rng(seed)
  for batch in batches:
    prompts_BP = rng.integers(0, vocab, (batch, prompt_len))
    add(jax_sample(policy, prompts_BP, new_tokens, timer))
    if peers:
      add(hf_sample(hf_model, prompts_BP, new_tokens, timer))

  if train_rows == 0:  # sampling rows only
    return records
  train_prompt_len = train_len // 2
  rollout = _rollout(
    policy, rng.integers(0, vocab, (1, train_prompt_len)), train_rows, train_len - train_prompt_len
  )
  config = ml_collections.ConfigDict(rl_config.to_dict())
  config.rollout.group_size = train_rows
  add(jax_grpo_update(policy, rollout, config, timer))
  tokens_RT = np.concatenate(
    [np.asarray(rollout.prompt_tokens_BP), np.asarray(rollout.response_tokens_BN)], axis=1
  )
  add(jax_train_step(policy, tokens_RT, timer))
  if peers:
    add(torch_train_step(hf_model, tokens_RT, timer))
  return records


# --- the table -----------------------------------------------------------------------------------


def _find(records, **match) -> dict | None:
  return next((r for r in records if all(r.get(k) == v for k, v in match.items())), None)


def _cell(record: dict | None, key: str, fmt: str, unit: str = "") -> str:
  if record is None or record.get(key) is None:
    return "—"
  return format(record[key], fmt) + unit


def ratio(ours: dict | None, peer: dict | None) -> float | None:
  """jax_rlvr throughput / the peer's (> 1: jax_rlvr is faster) on the same tokens."""
  if ours is None or peer is None:
    return None
  return ours["tokens_per_s"] / peer["tokens_per_s"]


def markdown_table(records: Sequence[dict]) -> str:
  """The records of one `compare` run as Markdown: the comparison, compile / warm-up, machine."""
  setup = records[0]
  peak = _find(records, bench="matmul_peak")
  lines = [
    f"Model `{setup['model']}` ({setup['params'] / 1e6:.1f} M parameters, f32, "
    f"{'random weights' if setup['weights'] == 'random' else 'weights ' + setup['weights']}); "
    f"{setup['cpu']}, {setup['cores']} cores; commit {setup['commit']}; {setup['date']}; "
    f"median of {setup['repeats']} timed call(s); ratio = jax_rlvr throughput / peer throughput.",
    "",
    "| work | jax_rlvr | peer | ratio | jax_rlvr % of peak | peer % of peak "
    "| others' CPU, cores (jax_rlvr / peer) | contended |",
    "|---|---|---|---|---|---|---|---|",
  ]

  def row(work, ours, peer, key, fmt, unit):
    r = ratio(ours, peer)
    noise = f"{_cell(ours, 'others_cores_max', '.2f')} / {_cell(peer, 'others_cores_max', '.2f')}"
    flag = any(x is not None and x["contended"] for x in (ours, peer))
    lines.append(
      f"| {work} | {_cell(ours, key, fmt, unit)} | {_cell(peer, key, fmt, unit)} "
      f"| {'—' if r is None else f'{r:.2f}×'} | {_cell(ours, 'pct_peak', '.0f', '%')} "
      f"| {_cell(peer, 'pct_peak', '.0f', '%')} | {noise} | {'yes' if flag else 'no'} |"
    )

  for ours in (r for r in records if r["bench"] == "sample" and r["peer"] == JAX):
    peer = _find(records, bench="sample", peer=TRANSFORMERS, batch=ours["batch"])
    work = (
      f"sampling vs transformers `generate`, batch {ours['batch']}, "
      f"{ours['new_tokens']} new tokens, T = 1"
    )
    row(work, ours, peer, "tokens_per_s", ".1f", " tok/s")
  torch_step = _find(records, bench="train_step", peer=TORCH)
  for work, name in (("grpo_update", "GRPO update"), ("fwd_bwd_adamw", "fwd + bwd + AdamW")):
    ours = _find(records, bench="train_step", peer=JAX, work=work)
    if ours is not None:
      label = f"{name} vs PyTorch fwd + bwd + AdamW, {ours['rows']} × {ours['length']} tokens"
      row(label, ours, torch_step, "seconds", ".3f", " s")
  if peak is not None:
    lines.append(
      f"| f32 matmul peak ({peak['size']}³, jax) | {peak['gflops']:.1f} GFLOP/s | | | 100% | "
      f"| {_cell(peak, 'others_cores_max', '.2f')} | {'yes' if peak['contended'] else 'no'} |"
    )
  bandwidth = _find(records, bench="read_bandwidth")
  if bandwidth is not None:
    lines.append(
      f"| f32 read bandwidth (sum over {bandwidth['megabytes']} MB, jax) "
      f"| {bandwidth['gb_per_s']:.1f} GB/s | | | | "
      f"| {_cell(bandwidth, 'others_cores_max', '.2f')} "
      f"| {'yes' if bandwidth['contended'] else 'no'} |"
    )
  samples = [r for r in records if r["bench"] == "sample" and r["peer"] == JAX]
  if samples and bandwidth is not None:
    lines += [
      "",
      "Sampling against its roofline: a decode step reads every f32 weight once (at the measured "
      "bandwidth) and computes 2 · params FLOPs per row (at the measured peak), whichever is "
      "slower.",
      "",
      "| batch | roofline | bound by | jax_rlvr % of roofline | peer % of roofline |",
      "|---|---|---|---|---|",
    ]
    for ours in samples:
      peer = _find(records, bench="sample", peer=TRANSFORMERS, batch=ours["batch"])
      compute_bound = ours["roofline_tokens_per_s"] < (
        ours["batch"] * bandwidth["gb_per_s"] * 1e9 / (4 * setup["params"])
      )
      lines.append(
        f"| {ours['batch']} | {ours['roofline_tokens_per_s']:.1f} tok/s "
        f"| {'matmul peak' if compute_bound else 'weight reads'} "
        f"| {_cell(ours, 'pct_roofline', '.0f', '%')} | {_cell(peer, 'pct_roofline', '.0f', '%')} |"
      )
  lines += ["", "| measurement | compile (jax_rlvr) / warm-up call (peer), s |", "|---|---|"]
  for r in records[1:]:
    what = " ".join(
      str(x) for x in (r["bench"], r.get("work", ""), r["peer"], _shape(r)) if x != ""
    )
    lines.append(f"| {what} | {r.get('compile_s', r.get('warmup_s')):.2f} |")
  versions = ", ".join(f"{k} {setup[k]}" for k in ("jax", "torch", "transformers") if k in setup)
  threads = f"; torch threads {setup['torch_threads']}" if "torch_threads" in setup else ""
  lines += ["", f"Versions: {versions}{threads}.", ""]
  return "\n".join(lines)


def _shape(record: dict) -> str:
  if record["bench"] == "sample":
    return f"batch {record['batch']}"
  if record["bench"] == "train_step":
    return f"{record['rows']} × {record['length']}"
  if record["bench"] == "read_bandwidth":
    return f"{record['megabytes']} MB"
  return f"{record['size']}³"
