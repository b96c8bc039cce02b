"""`compare`: jax_rlvr and its peers in one run on one machine, on the same weights and inputs.

The f32 matmul peak and read bandwidth (jax), jax_rlvr sampling vs transformers `generate` at
several batch sizes (Y forced new tokens, temperature 1, no truncation, EOS disabled on both
sides), and on the same R × T tokens the jax_rlvr GRPO update and a plain jax fwd + bwd + AdamW
step vs a PyTorch fwd + bwd + `torch.optim.AdamW` step. Both peers load one HF checkpoint
directory; without one, random weights of a preset are written to a temporary directory first.
Each record carries its share of the measured matmul peak, and each sampling record its share of
the sampling roofline.

Shape letters (as in jax_rlvr/__init__.py): B rows sampled in parallel, P prompt tokens, Y new
tokens, R training rows, T training tokens per row.
"""

from __future__ import annotations

import datetime
import functools
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from jax_rlvr.benchmarks import jax_side, torch_side
from jax_rlvr.benchmarks.timing import Timer, time_repeats
from jax_rlvr.models import Policy, count_params, get_preset, load_hf_checkpoint, save_hf_checkpoint
from jax_rlvr.models.config import PRESETS
from jax_rlvr.models.gguf_import import resolve_model_path

# The checkout this file belongs to (jax_rlvr/benchmarks/side_by_side.py), for the commit.
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sampling_roofline(params: int, batch: int, peak_gflops: float, gb_per_s: float) -> float:
  """New tokens / s a decode step could reach at most: it reads the f32 weights once (4 · params
  bytes at `gb_per_s`) and computes 2 · params FLOPs per row (at `peak_gflops`), whichever takes
  longer. Attention and the KV cache are left out (small at these lengths)."""
  step_s = max(4 * params / (gb_per_s * 1e9), 2 * params * batch / (peak_gflops * 1e9))
  return batch / step_s


def machine_info() -> dict:
  """CPU model, cores, commit of this checkout, date and library versions."""
  cpu = "unknown"
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
  except OSError:
    pass
  try:
    commit = subprocess.run(
      ["git", "-C", _REPO, "rev-parse", "--short", "HEAD"],
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
  if torch_side.torch_available():
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
  peers = peers and torch_side.torch_available()
  policy, hf_model, weights = _load_both(model, seed, peers)
  records = []

  def add(record):
    _relate_to_machine(record, records)
    records.append(record)
    emit(record)

  add(
    {
      "bench": "setup",
      "model": model,
      "weights": weights,
      "params": count_params(policy),
      "repeats": repeats,
      "threshold_cores": threshold,
      "max_retimes": max_retimes,
      **machine_info(),
    }
  )
  add(jax_side.matmul_peak(timer, matmul_size))
  add(jax_side.read_bandwidth(timer, bandwidth_mb))
  rng = np.random.default_rng(seed)
  for batch in batches:
    prompts_BP = rng.integers(0, policy.cfg.vocab_size, (batch, prompt_len))
    add(jax_side.jax_sample(policy, prompts_BP, new_tokens, timer))
    if peers:
      add(torch_side.hf_sample(hf_model, prompts_BP, new_tokens, timer))
  if train_rows:  # 0: sampling rows only
    for record in _training_steps(policy, hf_model, rl_config, rng, train_rows, train_len, timer):
      add(record)
  return records


def _load_both(model: str, seed: int, peers: bool):
  """(jax_rlvr policy, transformers model or None, "random" or the checkpoint's path), both peers
  loaded from one HF directory."""
  with tempfile.TemporaryDirectory() as tmp:
    if model in PRESETS:
      path = os.path.join(tmp, model)
      save_hf_checkpoint(Policy(get_preset(model), rngs=nnx.Rngs(seed)), path)
    else:
      path = resolve_model_path(model)
    policy = load_hf_checkpoint(path, jnp.float32)
    hf_model = torch_side.load_hf_model(path) if peers else None
  return policy, hf_model, "random" if model in PRESETS else path


def _relate_to_machine(record: dict, records: Sequence[dict]) -> None:
  """Adds a record's share of the matmul peak and, for sampling, of its roofline; `records` so far
  are the setup, the matmul peak and the read bandwidth, in this order."""
  if "gflops" in record and record["bench"] != "matmul_peak":
    record["pct_peak"] = 100 * record["gflops"] / records[1]["gflops"]
  if record["bench"] == "sample":
    roofline = sampling_roofline(
      records[0]["params"], record["batch"], records[1]["gflops"], records[2]["gb_per_s"]
    )
    record["roofline_tokens_per_s"] = roofline
    record["pct_roofline"] = 100 * record["tokens_per_s"] / roofline


def _training_steps(
  policy: Policy,
  hf_model,
  rl_config: ml_collections.ConfigDict,
  rng: np.random.Generator,
  train_rows: int,
  train_len: int,
  timer: Timer,
) -> Iterator[dict]:
  """The GRPO update, the plain jax step and (with `hf_model`) the PyTorch step, on the same
  train_rows × train_len tokens: one prompt of train_len // 2 sampled train_rows times."""
  train_prompt_len = train_len // 2
  rollout = jax_side.sample_groups(
    policy,
    rng.integers(0, policy.cfg.vocab_size, (1, train_prompt_len)),
    train_rows,
    train_len - train_prompt_len,
  )
  config = ml_collections.ConfigDict(rl_config.to_dict())
  config.rollout.group_size = train_rows
  yield jax_side.jax_grpo_update(policy, rollout, config, timer)
  tokens_RT = np.concatenate(
    [np.asarray(rollout.prompt_tokens_BP), np.asarray(rollout.response_tokens_BY)], axis=1
  )
  yield jax_side.jax_train_step(policy, tokens_RT, timer)
  if hf_model is not None:
    yield torch_side.torch_train_step(hf_model, tokens_RT, timer)
