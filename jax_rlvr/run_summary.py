"""A finished run's report from its files: accuracy and entropy before and after GRPO, the final λ,
the host's share of a step; the lines train.py prints at the end."""

from __future__ import annotations

import os

import numpy as np

from jax_rlvr import metric_writer


def summarize(workdir: str, eval_k: int) -> dict:
  """Initial vs final eval avg@`eval_k` and rollout entropy (first / last 5 GRPO steps), the
  final λ (pos_weight) and the host time share, from `workdir`'s metrics.jsonl and eval.jsonl."""
  rl = metric_writer.read_rl_records(workdir)
  evals = metric_writer.read_jsonl(os.path.join(workdir, "eval.jsonl"))
  out = {}
  if evals:
    out["initial_accuracy"] = evals[0][f"avg@{eval_k}"]
    out["final_accuracy"] = evals[-1][f"avg@{eval_k}"]
  if rl:
    out["initial_entropy"] = float(np.mean([r["entropy"] for r in rl[:5]]))
    out["final_entropy"] = float(np.mean([r["entropy"] for r in rl[-5:]]))
    out["final_pos_weight"] = rl[-1]["pos_weight"]
    out["host_time_share"] = host_time_share(rl)
  return out


def host_time_share(rl_records: list[dict]) -> float:
  """Median over GRPO steps of the share of a step's time spent outside the compiled sampler, update
  and probe: encoding prompts, decoding and grading responses, metrics. The median leaves out the
  compiling first step and the steps that also evaluate."""
  shares = [
    1 - (r["time_generate_s"] + r["time_train_s"] + r.get("time_probe_s", 0.0)) / r["time_step_s"]
    for r in rl_records
    if "time_step_s" in r  # absent in metrics written before it was recorded
  ]
  return float(np.median(shares)) if shares else float("nan")


def format_summary(summary: dict, workdir: str) -> str:
  """A few lines for the terminal at the end of a run."""
  if summary.get("stopped_early"):
    return f"Stopped early at step {summary['step']} (checkpoint saved); rerun to resume."
  lines = [f"Finished {summary['step']} steps in {summary['wall_time_s'] / 60:.1f} min."]
  if "initial_accuracy" in summary:
    lines.append(
      f"  eval accuracy   {summary['initial_accuracy']:.3f} -> "
      f"{summary['final_accuracy']:.3f}   (before -> after GRPO)"
    )
  if "initial_entropy" in summary:
    lines.append(
      f"  token entropy   {summary['initial_entropy']:.3f} -> "
      f"{summary['final_entropy']:.3f}   (first -> last 5 GRPO steps)"
    )
    lines.append(f"  final λ         {summary['final_pos_weight']:.2f}")
    lines.append(
      f"  host time       {summary['host_time_share']:.1%} of a GRPO step (median; outside the "
      "compiled sampler and update)"
    )
  lines.append(
    f"  metrics: {workdir}/metrics.jsonl, eval: {workdir}/eval.jsonl, plots: {workdir}/plots/"
  )
  return "\n".join(lines)
