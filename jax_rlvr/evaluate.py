"""Evaluation: k samples per prompt on the eval split -> accuracy, entropy, diversity, calibration.

One eval record (a line of `workdir/eval.jsonl`) holds:
  avg@k, pass@<k'> (unbiased), entropy (mean token entropy of the responses), response_length;
  distinct_1..distinct_4 and self_bleu over the k responses of each prompt (unit
  `eval.diversity_unit`: "char" for the synthetic tasks, "word" for natural language), and
  unique_answer_rate (distinct extracted answers / k, with the task's `extract_answer`);
  confidence (mean over responses of exp(mean token log-prob) under the sampling distribution),
  ece / brier of that confidence against correctness (`eval.calibration_bins` equal-width bins),
  the same for the final-answer tokens (answer_confidence, answer_ece, answer_brier) when
  `eval.answer_marker` is one token, and the reliability table (reliability_confidence /
  _accuracy / _count, one entry per bin) so figures can redraw it;
  prompt_entropy_id: the policy's mean next-token entropy over the eval prompts' tokens, and
  prompt_entropy_ood over a second prompt set (`eval.ood_*`, see `ood_prompts`).

`evaluate(config, workdir)` restores the latest checkpoint of a run and appends one record to
`workdir/eval.jsonl`; the train loop calls `evaluate_policy` directly every `eval.every` steps.
With `eval.reliability_dir` set, every evaluation also writes a reliability-diagram PNG there.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G = k samples per prompt, B rows, Y response
tokens, T tokens of a model call, P prompt tokens.
"""

from __future__ import annotations

import functools
import glob
import json
import os

import jax
import ml_collections
import numpy as np
from flax import nnx

from jax_rlvr import components, config_validation, sharding, tasks, train_state
from jax_rlvr.data import batching
from jax_rlvr.data.tasks import arithmetic
from jax_rlvr.metrics import (
  answer_token_mask,
  brier_score,
  diversity_metrics,
  expected_calibration_error,
  plot_reliability,
  prompt_entropy,
  reliability_table,
  response_confidences,
  summarize_correctness,
)
from jax_rlvr.models import scoring
from jax_rlvr.rollout import engines


@functools.partial(jax.jit, static_argnums=0)
def next_token_entropy(graphdef, params, tokens_BT, mask_BT):
  """[B, T] float32 entropy of the policy's next-token distribution at every position."""
  return scoring.entropy_from_logits(nnx.merge(graphdef, params)(tokens_BT, mask_BT=mask_BT))


def ood_prompts(config: ml_collections.ConfigDict) -> list[str]:
  """The out-of-domain prompt set of prompt entropy (empty when eval.ood_num_prompts = 0).

  The paper compares in-domain math benchmarks with LiveCodeBench / IF-Eval. The synthetic
  arithmetic task has no second domain, so its out-of-domain set is the same task at another
  difficulty: eval.ood_num_prompts sums of eval.ood_terms = (min, max) terms drawn from
  eval.ood_values = (min, max) (default: 2-3 two-digit numbers, unseen in training). Other tasks
  have no out-of-domain prompt set here (the metric is omitted).
  """
  c = config.eval
  if c.ood_num_prompts <= 0 or config.data.task != "arithmetic":
    return []
  rng = np.random.default_rng(config.seed + 7919)
  return [
    arithmetic.sample_problem(
      rng,
      min_terms=c.ood_terms[0],
      max_terms=c.ood_terms[1],
      min_value=c.ood_values[0],
      max_value=c.ood_values[1],
    )["prompt"]
    for _ in range(c.ood_num_prompts)
  ]


def _prompt_batches(prompts, tokenizer, config, mesh):
  """Yields (start, chunk, host mask [b, L], tokens, mask) per eval.batch_prompts prompts, the
  last two replicated on `mesh` (every process holds all eval prompts). The last chunk is padded
  by repeating its final prompt: a fixed batch shape compiles once."""
  size = config.eval.batch_prompts
  for start in range(0, len(prompts), size):
    chunk = prompts[start : start + size]
    padded = chunk + [chunk[-1]] * (size - len(chunk))
    tokens, mask = batching.encode_prompts(
      tokenizer, padded, config.data.max_prompt_len, config.data.template
    )
    yield start, chunk, mask, *sharding.host_replicated_to_global(mesh, (tokens, mask))


def prompt_entropy_of(graphdef, params, tokenizer, prompts, config) -> float:
  """Mean next-token entropy over the tokens of `prompts` (the paper's prompt entropy).

  Averages the positions whose next token is still a prompt token, i.e. the model's uncertainty
  about the prompt text itself; the last position (which predicts the response) is left out.
  """
  if not prompts:
    return float("nan")
  mesh = jax.tree.leaves(params)[0].sharding.mesh
  total, count = 0.0, 0.0
  for _, chunk, mask, tokens_g, mask_g in _prompt_batches(prompts, tokenizer, config, mesh):
    entropy_BT = np.asarray(
      sharding.global_to_host(next_token_entropy(graphdef, params, tokens_g, mask_g))
    )
    # Left padding: position t is used when it and t + 1 are both real prompt tokens.
    use_BT = np.zeros(mask.shape, bool)
    use_BT[:, :-1] = (mask[:, :-1] > 0) & (mask[:, 1:] > 0)
    use_BT[len(chunk) :] = False
    n = float(use_BT.sum())
    if n:
      total += prompt_entropy(entropy_BT, use_BT) * n
      count += n
  return total / count if count else float("nan")


def evaluate_policy(graphdef, params, records, tokenizer, task, config, *, key) -> dict:
  """Samples `config.eval.k` responses for each of the eval prompts (at most eval.num_prompts).

  records: dict with lists "prompt" and "answer". Returns the metrics listed in the module
  docstring, and num_prompts.
  """
  c = config.eval
  sampling_config = components.sampling_config(
    config, eos_ids=tokenizer.eos_ids, pad_id=tokenizer.pad_id, evaluation=True
  )
  engine = engines.from_config(config.rollout)
  prompts = list(records["prompt"])[: c.num_prompts]
  answers = list(records["answer"])[: c.num_prompts]
  mesh = jax.tree.leaves(params)[0].sharding.mesh
  correct, entropy_sum, token_count, lengths = [], 0.0, 0.0, []
  texts_all, conf_response, conf_answer = [], [], []
  # Only a character tokenizer makes the marker one unambiguous token.
  use_marker = c.answer_marker and config.tokenizer.kind == "char"
  marker = tokenizer.encode(c.answer_marker) if use_marker else []
  for start, chunk, _, tokens, mask in _prompt_batches(prompts, tokenizer, config, mesh):
    out = engine.generate(
      graphdef, params, tokens, mask, jax.random.fold_in(key, start), sampling_config
    )
    out = sharding.global_to_host(out)
    n_rows = len(chunk) * c.k
    response_tokens, length_B = out.response_tokens_BY[:n_rows], out.lengths_B[:n_rows]
    mask_BY = out.response_mask_BY[:n_rows].astype(np.float64)
    entropy_sum += float((out.entropy_BY[:n_rows] * mask_BY).sum())
    token_count += float(mask_BY.sum())
    lengths.extend(length_B.tolist())
    texts = [
      tokenizer.decode(response_tokens[i, : length_B[i]], skip_special_tokens=True)
      for i in range(n_rows)
    ]
    golds = [str(answers[start + i // c.k]) for i in range(n_rows)]
    correct.extend(task.grade(texts, golds))
    texts_all.extend(texts)
    # Confidence under the distribution the responses were drawn from (temperature, top-p).
    logp_BY = np.asarray(out.sample_logp_BY[:n_rows], np.float64)
    answer_BY = (
      answer_token_mask(response_tokens, mask_BY, marker[0], exclude_ids=sampling_config.eos_ids)
      if len(marker) == 1
      else np.zeros(mask_BY.shape, bool)
    )
    conf = response_confidences(logp_BY, mask_BY, answer_BY)
    conf_response.extend(conf["response"].tolist())
    conf_answer.extend(conf["answer"].tolist())
  num_prompts = len(prompts)
  correct_QG = np.asarray(correct, np.float64).reshape(num_prompts, c.k)
  result = summarize_correctness(correct_QG, [k for k in c.pass_ks if k <= c.k])
  result.update(
    entropy=entropy_sum / max(token_count, 1.0),
    response_length=float(np.mean(lengths)),
    num_prompts=num_prompts,
  )
  texts_QG = [texts_all[p * c.k : (p + 1) * c.k] for p in range(num_prompts)]
  answers_QG = None
  if task.extract_answer is not None:
    answers_QG = [[task.extract_answer(t) for t in row] for row in texts_QG]
  result.update(diversity_metrics(texts_QG, answers_QG, unit=c.diversity_unit))
  result.update(_calibration(np.asarray(conf_response), np.asarray(correct), "", c))
  if len(marker) == 1:
    result.update(_calibration(np.asarray(conf_answer), np.asarray(correct), "answer_", c))
  if c.prompt_entropy:
    result["prompt_entropy_id"] = prompt_entropy_of(graphdef, params, tokenizer, prompts, config)
    ood = ood_prompts(config)
    if ood:
      result["prompt_entropy_ood"] = prompt_entropy_of(graphdef, params, tokenizer, ood, config)
  if c.reliability_dir and jax.process_index() == 0:
    os.makedirs(c.reliability_dir, exist_ok=True)
    # Numbered in order: one diagram per evaluation of the run.
    index = len(glob.glob(os.path.join(c.reliability_dir, "reliability_*.png")))
    plot_reliability(
      conf_response,
      correct,
      os.path.join(c.reliability_dir, f"reliability_{index:03d}.png"),
      num_bins=c.calibration_bins,
      title=f"Reliability (eval {index}, avg@{c.k} = {result[f'avg@{c.k}']:.3f})",
    )
  return {k: _json_value(v) for k, v in result.items()}


def _calibration(conf_B, correct_B, prefix: str, c) -> dict:
  """Mean confidence, ECE, Brier (and for the whole response the reliability table)."""
  finite = np.isfinite(conf_B)
  out = {
    f"{prefix}confidence": float(np.mean(conf_B[finite])) if finite.any() else float("nan"),
    f"{prefix}ece": expected_calibration_error(conf_B, correct_B, c.calibration_bins),
    f"{prefix}brier": brier_score(conf_B, correct_B),
  }
  if not prefix:
    table = reliability_table(conf_B, correct_B, c.calibration_bins)
    out.update(
      reliability_confidence=table["confidence"].tolist(),
      reliability_accuracy=table["accuracy"].tolist(),
      reliability_count=table["count"].tolist(),
    )
  return out


def _json_value(value):
  """NaN -> None so eval.jsonl stays strict JSON."""
  if isinstance(value, list):
    return [_json_value(v) for v in value]
  if isinstance(value, float) and not np.isfinite(value):
    return None
  return value


def eval_key(config: ml_collections.ConfigDict) -> jax.Array:
  """The sampling key of every evaluation of a run: the same prompts get the same draws at every
  evaluation, so changes between evaluations come from the policy."""
  return jax.random.fold_in(jax.random.key(config.seed), 10_000_019)


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Evaluates the latest readable checkpoint in `workdir` and appends the result to eval.jsonl.

  Nothing else of the run is written: its config.json and checkpoints stay as training left them.
  Raises checkpointing.CheckpointMismatchError when `config` builds another model than the
  checkpoint holds.
  """
  config_validation.validate_config(config)
  config_validation.check_files(config)
  mesh = sharding.make_mesh(config.mesh.shape)
  tokenizer = components.build_tokenizer(config)
  config_validation.check_vocab(config, tokenizer)
  step, graphdef, params = train_state.restore_params(config, workdir, mesh)
  task = tasks.build_task(config)
  # The test split only: the train subset (data.train_subset) plays no part in evaluation.
  sources = components.prepared_sources(config, workdir, task, apply_subset=False)
  with jax.set_mesh(mesh):
    result = evaluate_policy(
      graphdef,
      params,
      components.eval_records(config, sources["test"]),
      tokenizer,
      task,
      config,
      key=eval_key(config),
    )
  if jax.process_index() == 0:
    record = {
      "step": step,
      "rl_step": step - config.warmup.steps,
      "source": "scripts/eval.py",
      **result,
    }
    with open(os.path.join(workdir, "eval.jsonl"), "a") as f:
      f.write(json.dumps(record) + "\n")
  return result
