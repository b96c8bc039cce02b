"""The eval record's research metrics (diversity, calibration, prompt entropy) on a smoke policy."""

import glob
import math

from configs import default as default_config
from jax_rlvr import evaluate, tasks, train


def test_eval_record_has_research_metrics_in_range(tmp_path):
  config = default_config.get_config("smoke")
  config.eval.reliability_dir = str(tmp_path / "plots")
  trainer = train.Trainer(config, str(tmp_path / "run"))
  result = trainer.evaluate(trainer.initial_state)
  trainer.checkpointer.close()

  for n in range(1, 5):
    assert 0.0 < result[f"distinct_{n}"] <= 1.0
  # Longer n-grams repeat less: distinct-n does not fall with n on random text.
  assert result["distinct_1"] <= result["distinct_4"]
  assert 0.0 <= result["self_bleu"] <= 1.0
  assert 0.0 <= result["unique_answer_rate"] <= 1.0
  # An untrained policy is never right: ECE equals the mean confidence, and Brier, the mean square
  # confidence, lies between the squared mean and the mean. So for the answer token's confidence.
  assert result[f"avg@{config.eval.k}"] == 0.0
  for prefix in ("", "answer_"):
    confidence = result[prefix + "confidence"]
    assert 0.0 < confidence < 1.0, prefix
    assert math.isclose(result[prefix + "ece"], confidence, rel_tol=1e-6), prefix
    assert confidence**2 <= result[prefix + "brier"] * (1 + 1e-6), prefix
    assert result[prefix + "brier"] <= confidence * (1 + 1e-6), prefix
  counts = result["reliability_count"]
  assert len(counts) == config.eval.calibration_bins
  assert sum(counts) == config.eval.num_prompts * config.eval.k
  # A random policy over the vocabulary: prompt entropy near log(V), in- and out-of-domain.
  log_v = math.log(trainer.tokenizer.vocab_size)
  for key in ("prompt_entropy_id", "prompt_entropy_ood"):
    assert 0.5 * log_v < result[key] <= log_v + 1e-4, key
  assert len(glob.glob(str(tmp_path / "plots" / "reliability_*.png"))) == 1


def test_ood_prompts_are_a_harder_difficulty():
  config = default_config.get_config("smoke")
  prompts = evaluate.ood_prompts(config)
  assert len(prompts) == config.eval.ood_num_prompts
  terms = [int(t) for p in prompts for t in p[:-1].split("+")]
  assert min(terms) >= config.eval.ood_values[0] and max(terms) <= config.eval.ood_values[1]
  config.eval.ood_num_prompts = 0
  assert evaluate.ood_prompts(config) == []


def test_arithmetic_task_extracts_answers():
  task = tasks.TASKS["arithmetic"]
  assert task.extract_answer("3+4>7") == "7"
  assert task.extract_answer("no marker") is None
  assert tasks.TASKS["math"].extract_answer is None
