"""Evaluation: k samples per prompt on the eval split -> avg@k, unbiased pass@k, entropy, length.

`evaluate(config, workdir)` restores the latest checkpoint of a run and appends one record to
`workdir/eval.jsonl`; the train loop calls `evaluate_policy` directly every `eval.every` steps.
"""

from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np

from jax_rlvr import metric_writer, sampling, sharding
from jax_rlvr.data import batching
from jax_rlvr.metrics import summarize_correctness


def evaluate_policy(graphdef, params, records, tokenizer, task, config, *, key) -> dict:
  """Samples `config.eval.k` responses for each of the eval prompts (at most eval.num_prompts).

  records: dict with lists "prompt" and "answer". Returns avg@k, pass@k for eval.pass_ks,
  entropy (mean token entropy of the responses), response_length and num_prompts.
  """
  c = config.eval
  sampling_config = sampling.SamplingConfig(
    max_new_tokens=config.rollout.max_new_tokens,
    temperature=c.temperature,
    top_p=c.top_p,
    top_k=0,
    num_samples=c.k,
    eos_id=tokenizer.eos_id,
    pad_id=tokenizer.pad_id,
  )
  prompts = list(records["prompt"])[: c.num_prompts]
  answers = list(records["answer"])[: c.num_prompts]
  mesh = jax.tree.leaves(params)[0].sharding.mesh
  correct, entropy_sum, token_count, lengths = [], 0.0, 0.0, []
  for start in range(0, len(prompts), c.batch_prompts):
    chunk = prompts[start : start + c.batch_prompts]
    # A fixed batch shape avoids recompiling for the last, shorter chunk.
    padded = chunk + [chunk[-1]] * (c.batch_prompts - len(chunk))
    tokens, mask = batching.encode_prompts(
      tokenizer, padded, config.data.max_prompt_len, config.data.template
    )
    # Every process holds all eval prompts: replicate them, and gather the full outputs back.
    tokens, mask = sharding.host_replicated_to_global(mesh, (tokens, mask))
    out = sampling.generate(
      graphdef, params, tokens, mask, jax.random.fold_in(key, start), sampling_config
    )
    out = sharding.global_to_host(out)
    n_rows = len(chunk) * c.k
    response_tokens, length_B = out.response_tokens_BN[:n_rows], out.lengths_B[:n_rows]
    mask_BN = out.response_mask_BN[:n_rows].astype(np.float64)
    entropy_sum += float((out.entropy_BN[:n_rows] * mask_BN).sum())
    token_count += float(mask_BN.sum())
    lengths.extend(length_B.tolist())
    texts = [
      tokenizer.decode(response_tokens[i, : length_B[i]], skip_special_tokens=True)
      for i in range(n_rows)
    ]
    golds = [str(answers[start + i // c.k]) for i in range(n_rows)]
    correct.extend(task.grade(texts, golds))
  correct_PK = np.asarray(correct, np.float64).reshape(len(prompts), c.k)
  result = summarize_correctness(correct_PK, [k for k in c.pass_ks if k <= c.k])
  result.update(
    entropy=entropy_sum / max(token_count, 1.0),
    response_length=float(np.mean(lengths)),
    num_prompts=len(prompts),
  )
  return result


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Evaluates the latest checkpoint in `workdir` and appends the result to eval.jsonl."""
  from jax_rlvr import train  # the trainer knows how to rebuild and restore the run's state

  trainer = train.Trainer(config, workdir)
  step = trainer.checkpointer.latest_step()
  if step is None:
    raise FileNotFoundError(
      f"No checkpoint in {os.path.join(workdir, 'checkpoints')}; train first with "
      f"scripts/train.py --workdir {workdir}."
    )
  state = trainer.restore_or_init()
  result = trainer.evaluate(state)
  writer = metric_writer.MetricWriter(workdir, "eval")
  writer.write(step, {"rl_step": step - config.warmup.steps, "source": "scripts/eval.py", **result})
  writer.close()
  trainer.checkpointer.close()
  return result
