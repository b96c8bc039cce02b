"""The peers: transformers `generate` and a PyTorch fwd + bwd + torch.optim.AdamW step, on a
checkpoint loaded in float32 from a local directory (torch and transformers: the `hf` extra).

Shape letters (as in jax_rlvr/__init__.py): B rows sampled in parallel, P prompt tokens, R training
rows, T training tokens per row.
"""

from __future__ import annotations

import importlib.util
import os
import time

import numpy as np

from jax_rlvr.benchmarks.jax_side import adamw_args
from jax_rlvr.benchmarks.timing import Timer, record

TRANSFORMERS = "transformers"
TORCH = "torch"


def hf_sample(model, prompts_BP: np.ndarray, new_tokens: int, timer: Timer) -> dict:
  """New tokens / s of transformers `generate` at temperature 1 (no top-k / top-p) on a
  `load_hf_model` model (no EOS: every row gets Y tokens)."""
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
  return record(
    timing,
    tokens=min(produced),
    flops_per_token=2 * torch_params(model),
    bench="sample",
    peer=TRANSFORMERS,
    batch=prompts_BP.shape[0],
    prompt_len=prompts_BP.shape[1],
    new_tokens=new_tokens,
    warmup_s=warmup_s,
  )


def torch_train_step(model, tokens_RT: np.ndarray, timer: Timer, lr: float = 1e-5) -> dict:
  """Seconds of a PyTorch fwd + bwd + torch.optim.AdamW step on the next-token NLL of R × T."""
  import torch

  args = adamw_args(lr)
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
  return record(
    timing,
    tokens=ids_RT.numel(),
    flops_per_token=6 * torch_params(model),
    bench="train_step",
    work="fwd_bwd_adamw",
    peer=TORCH,
    rows=tokens_RT.shape[0],
    length=tokens_RT.shape[1],
    warmup_s=warmup_s,
  )


def torch_params(model) -> int:
  """The number of parameters of a torch model."""
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
  """Whether torch and transformers are installed (the `hf` extra)."""
  return all(importlib.util.find_spec(m) is not None for m in (TORCH, TRANSFORMERS))
