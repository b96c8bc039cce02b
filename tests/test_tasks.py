"""Task wiring: math and reasoning-gym tasks (jax_rlvr.tasks), their config fields, and an
end-to-end smoke run of configs/countdown.py."""

import dataclasses
import json
import os

import numpy as np
import pytest

from configs import countdown as countdown_config
from configs import default as default_config
from jax_rlvr import components, config_validation, metric_writer, tasks, train
from jax_rlvr.data import reasoning_gym_tasks
from jax_rlvr.rewards import math as math_rewards


def _write_jsonl(path, rows):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.writelines(json.dumps(row) + "\n" for row in rows)


def _math_config(tmp_path, **data):
  config = default_config.get_config("smoke")
  config.data.task = "math"
  config.warmup.steps = 0
  config.data.manual_dir = str(tmp_path / "raw")
  config.data.data_dir = str(tmp_path / "tfds")
  for key, value in data.items():
    config.data[key] = value
  return config


def test_math_task_reads_local_files_and_grades_with_the_math_verifier(tmp_path):
  raw = tmp_path / "raw"
  _write_jsonl(raw / "gsm8k" / "train.jsonl", [{"question": "1+1?", "answer": "#### 2"}])
  _write_jsonl(raw / "gsm8k" / "test.jsonl", [{"question": "2+2?", "answer": "#### 4"}])
  _write_jsonl(raw / "math_500" / "test.jsonl", [{"problem": "3+3?", "answer": "6"}])
  config = _math_config(tmp_path, dataset="gsm8k", eval_dataset="math_500")
  config_validation.validate_config(config)
  task = tasks.build_task(config)
  sources = task.prepare(config, config.data.data_dir)
  assert sources["train"][0]["prompt"] == b"1+1?" and sources["test"][0]["answer"] == b"6"
  config.data.eval_dataset = "gsm8k:test"
  assert task.prepare(config, config.data.data_dir)["test"][0]["answer"] == b"4"
  config.data.eval_dataset = "math_500:train"
  with pytest.raises(ValueError, match=r"math_500 has the splits \['test'\]"):
    task.prepare(config, config.data.data_dir)

  # Graded by the math verifier, whose own tests are tests/rewards/.
  assert task.grade is math_rewards.grade


@pytest.mark.parametrize(
  "overrides, field",
  [
    (dict(task="math"), "data.manual_dir"),
    (dict(task="math", manual_dir="/x", dataset="dapo"), "data.dataset"),
    (dict(task="math", manual_dir="/x", eval_dataset="aime24:test"), "data.eval_dataset"),
    (dict(rg_config={"min_numbers": 3}), "data.rg_config"),
    (dict(train_subset="subsets/clustered_616"), "data.train_subset"),
    (dict(template="qwen"), "data.template"),
  ],
)
def test_new_data_fields_are_validated(overrides, field):
  config = default_config.get_config("smoke")
  config.warmup.steps = 0
  for key, value in overrides.items():
    config.data[key] = value
  with pytest.raises(config_validation.ConfigError, match=rf"config\.{field}="):
    config_validation.validate_config(config)


def test_countdown_configs_validate_and_fit_their_prompts(tmp_path):
  for arg in (None, "smoke"):
    config_validation.validate_config(countdown_config.get_config(arg))
  config = countdown_config.get_config("smoke")
  tokenizer = components.build_tokenizer(config)
  assert tokenizer.vocab_size == 99
  # Longest possible prompt: every template with two-digit target and three numbers.
  sources = reasoning_gym_tasks.prepare_reasoning_gym(
    "countdown", tmp_path, seed=0, num_train=300, num_test=16, **config.data.rg_config.to_dict()
  )
  lengths = [len(sources["train"][i]["prompt"]) for i in range(300)]
  assert max(lengths) + 1 <= config.data.max_prompt_len  # + BOS


@pytest.mark.slow
def test_countdown_smoke_trains_end_to_end(tmp_path, monkeypatch):
  config = countdown_config.get_config("smoke")
  task = tasks.TASKS["rg_countdown"]
  graded = []

  def spy(responses, answers):
    rewards = task.grade(responses, answers)
    graded.append((list(answers), rewards))
    return rewards

  monkeypatch.setitem(tasks.TASKS, "rg_countdown", dataclasses.replace(task, grade=spy))
  workdir = str(tmp_path / "cd")
  summary = train.train_and_evaluate(config, workdir)
  assert summary["step"] == config.num_steps and not summary["stopped_early"]

  P, G = config.rollout.prompts_per_step, config.rollout.group_size
  records = metric_writer.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  assert [r["step"] for r in records] == list(range(1, config.num_steps + 1))
  for record in records:
    assert record["phase"] == "rl"
    assert {"reward_mean", "accuracy", "entropy", "response_length", "pos_weight"} <= set(record)
    # Binary rewards: the mean reward is the fraction of the P·G responses graded correct.
    assert record["reward_mean"] == pytest.approx(record["accuracy"])
    assert record["accuracy"] * P * G == pytest.approx(round(record["accuracy"] * P * G))
  evals = metric_writer.read_jsonl(os.path.join(workdir, "eval.jsonl"))
  assert [e["step"] for e in evals] == [0, config.num_steps]
  for e in evals:
    assert {"avg@4", "pass@1", "pass@4", "entropy", "response_length"} <= set(e)

  # Rollouts (P·G per step) and evals (eval prompts × k) were graded on countdown entries, binary.
  assert len(graded) >= config.num_steps
  assert [len(r) for _, r in graded[: config.num_steps]].count(P * G) >= config.num_steps - 1
  rewards = np.concatenate([r for _, r in graded])
  assert set(np.unique(rewards).tolist()) <= {0.0, 1.0}
  assert all(json.loads(a)["dataset"] == "countdown" for answers, _ in graded for a in answers)
