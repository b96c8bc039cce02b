"""A finished run's report from its files (jax_rlvr/run_summary.py), on a committed run."""

import json
import os

import numpy as np
import pytest

from jax_rlvr import run_summary

RUN = os.path.join(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
  "docs/results/real_offpolicy/runs/pos_adv_entropy_guided",
)


def _jsonl(name):
  with open(os.path.join(RUN, name)) as f:
    return [json.loads(line) for line in f]


def test_the_summary_of_a_committed_run_is_what_training_wrote():
  """Recomputed from metrics.jsonl and eval.jsonl, the summary equals the one the run wrote at
  its end (summary.json), and its numbers are the files' own."""
  summary = run_summary.summarize(RUN, eval_k=4)
  with open(os.path.join(RUN, "summary.json")) as f:
    written = json.load(f)
  for key, value in summary.items():
    assert value == pytest.approx(written[key], rel=1e-12), key
  rl = [r for r in _jsonl("metrics.jsonl") if r["phase"] == "rl"]
  evals = _jsonl("eval.jsonl")
  assert summary["final_entropy"] == pytest.approx(np.mean([r["entropy"] for r in rl[-5:]]))
  assert (summary["initial_accuracy"], summary["final_accuracy"]) == (
    evals[0]["avg@4"],
    evals[-1]["avg@4"],
  )
  assert summary["final_pos_weight"] == rl[-1]["pos_weight"] == 0.0  # λ driven to 0 (docs)
  text = run_summary.format_summary({**summary, "step": 30, "wall_time_s": 60.0}, RUN)
  assert f"{summary['initial_accuracy']:.3f} -> {summary['final_accuracy']:.3f}" in text
  assert "final λ         0.00" in text


def test_a_run_stopped_early_says_how_to_resume():
  text = run_summary.format_summary({"stopped_early": True, "step": 12}, "DIR")
  assert text == "Stopped early at step 12 (checkpoint saved); rerun to resume."
