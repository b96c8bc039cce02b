"""Tests of the reasoning-gym builder, answer extraction and binary grading."""

import functools
import json

import pytest

from jax_rlvr import tasks
from jax_rlvr.data import builders
from jax_rlvr.data import reasoning_gym_tasks as rg

_SMALL_COUNTDOWN = dict(
  min_numbers=3, max_numbers=3, min_value=1, max_value=9, min_target=10, max_target=30
)


def _decoded(source):
  return [{k: v.decode() for k, v in source[i].items()} for i in range(len(source))]


@pytest.fixture(scope="module")
def countdown(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("rg")
  sources = rg.prepare_reasoning_gym(
    "countdown", data_dir, seed=3, num_train=40, num_test=10, **_SMALL_COUNTDOWN
  )
  return data_dir, {split: _decoded(s) for split, s in sources.items()}


def test_countdown_records_carry_the_entry(countdown):
  _, sources = countdown
  train, test = sources["train"], sources["test"]
  assert (len(train), len(test)) == (40, 10)
  assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}
  for split, records in sources.items():
    for i, record in enumerate(records):
      assert set(record) == set(builders.FEATURE_NAMES)
      assert record["source"] == "reasoning_gym/countdown"
      assert record["id"] == f"reasoning_gym/countdown/{split}/{i}"
      entry = json.loads(record["answer"])
      assert entry["dataset"] == "countdown" and entry["question"] == record["prompt"]
      assert len(entry["metadata"]["numbers"]) == 3
      assert 10 <= entry["metadata"]["target"] <= 30


def test_prepare_is_deterministic_and_cached(countdown, tmp_path):
  data_dir, sources = countdown
  again = rg.prepare_reasoning_gym(
    "countdown", data_dir, seed=3, num_train=40, num_test=10, **_SMALL_COUNTDOWN
  )
  assert _decoded(again["test"]) == sources["test"]
  elsewhere = rg.prepare_reasoning_gym(
    "countdown", tmp_path, seed=3, num_train=40, num_test=10, **_SMALL_COUNTDOWN
  )
  assert _decoded(elsewhere["train"]) == sources["train"]
  other = rg.reasoning_gym_config("countdown", seed=3, num_train=40, num_test=10, max_value=8)
  assert other.name != rg.reasoning_gym_config("countdown", seed=3, num_train=40, num_test=10).name


def test_countdown_grades_its_own_solution_and_rejects_others(countdown):
  _, sources = countdown
  answers = [r["answer"] for r in sources["test"]]
  golds = [json.loads(a)["answer"] for a in answers]
  assert rg.grade([f"Let me think.\n<answer>{g}</answer>" for g in golds], answers) == [1.0] * 10
  assert rg.grade(golds, answers) == [1.0] * 10  # the last line
  entry = json.loads(answers[0])
  a, b, c = entry["metadata"]["numbers"]
  wrong = f"{a} + {b} + {c} + 1"  # extra number: reasoning-gym scores it 0.05, binary 0
  assert (
    rg.grade([wrong, f"<answer>{a}</answer>", "", "no answer here"], [answers[0]] * 4) == [0.0] * 4
  )


@pytest.mark.parametrize(
  "response",
  ["<answer>__import__('os').system('true')</answer>", "<answer>9**9**9**9</answer>"],
)
def test_countdown_does_not_evaluate_non_arithmetic(countdown, response):
  _, sources = countdown
  assert rg.score(response, sources["test"][0]["answer"]) == 0.0


@pytest.mark.parametrize("dataset", ["basic_arithmetic", "chain_sum", "gsm_symbolic"])
def test_numeric_tasks_grade_binary(tmp_path, dataset):
  sources = rg.prepare_reasoning_gym(dataset, tmp_path, seed=0, num_train=4, num_test=4)
  for record in _decoded(sources["test"]):
    gold = json.loads(record["answer"])["answer"]
    responses = [
      f"<answer>{gold}</answer>",
      f"I think \\boxed{{{gold}}}",
      f"<answer>{int(float(gold)) + 1}</answer>",
      # reasoning-gym gives partial credit when the gold is a substring of a longer answer.
      f"<answer>{gold}0</answer>",
    ]
    assert rg.grade(responses, [record["answer"]] * 4) == [1.0, 1.0, 0.0, 0.0]


def test_extract_answer():
  assert rg.extract_answer("<answer>1</answer> then <answer> 2 </answer>") == "2"
  assert rg.extract_answer("so \\boxed{3}\nend") == "3"
  assert rg.extract_answer("work\n  4 + 5 \n\n") == "4 + 5"
  assert rg.extract_answer("  \n") is None


def test_grade_never_raises():
  assert rg.grade(["<answer>1</answer>", "x"], ["not json", json.dumps({"dataset": "nope"})]) == [
    0.0,
    0.0,
  ]


def test_tasks_are_registered_with_the_ascii_tokenizer():
  for name in rg.DATASETS:
    task = tasks.TASKS[f"rg_{name}"]
    assert task.grade is rg.grade and not task.has_demonstrations
    assert task.char_tokenizer().vocab_size == 99


def test_answer_formats_grade_the_first_or_the_last_number():
  """chatml_answer opens the answer ("The answer is"), so its response's first number is the
  answer and whatever follows is ignored; prose is graded by its last number."""
  gold = json.dumps({"answer": "68"})
  first = functools.partial(rg.grade_numbers, extract=rg.first_number)
  assert first([" 68. 23 + 45", " 45 + 23 = 68", " -68", "none"], [gold] * 4) == [1, 0, 0, 0]
  assert rg.grade_numbers([" 68. 23 + 45", "23 + 45 is 68.", "x"], [gold] * 3) == [0, 1, 0]
  assert rg.first_number(" -3.5 then 2") == "-3.5" and rg.last_number("2 then -3.5") == "-3.5"
  assert rg.NUMBER_FORMATS == {"last_number": rg.last_number, "first_number": rg.first_number}
