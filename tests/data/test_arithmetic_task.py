"""Tests of the arithmetic_chains task: problems, demonstrations, verifier."""

import itertools

import numpy as np
import pytest

from jax_rlvr.data.tasks import arithmetic
from jax_rlvr.models import char_tokenizer


def _problems(n, seed=0, **kwargs):
  rng = np.random.default_rng(seed)
  return [arithmetic.sample_problem(rng, **kwargs) for _ in range(n)]


def test_sample_problem_fields_and_ranges():
  problems = _problems(500)
  counts = set()
  for p in problems:
    assert set(p) == {"prompt", "answer", "id", "source"}
    assert all(isinstance(v, str) for v in p.values())
    terms = arithmetic.parse_prompt(p["prompt"])
    counts.add(len(terms))
    assert all(1 <= t <= 99 for t in terms)
    assert p["answer"] == str(sum(terms))
    assert len(p["prompt"]) <= 16
    assert p["source"] == arithmetic.SOURCE
  assert counts == {3, 4}
  assert _problems(5, seed=1) == _problems(5, seed=1)
  assert _problems(5, seed=1) != _problems(5, seed=2)


def test_difficulty_knobs():
  for p in _problems(200, min_terms=2, max_terms=2, min_value=5, max_value=9):
    terms = arithmetic.parse_prompt(p["prompt"])
    assert len(terms) == 2 and all(5 <= t <= 9 for t in terms)
  with pytest.raises(ValueError):
    _problems(1, min_terms=1)


@pytest.mark.parametrize("prompt", ["", "12=", "1+2", "1+-2=", "a+b=", "1+2=3"])
def test_parse_prompt_rejects_malformed(prompt):
  with pytest.raises(ValueError):
    arithmetic.parse_prompt(prompt)


def test_clean_demonstrations_are_valid_chains():
  rng = np.random.default_rng(0)
  tok = char_tokenizer.arithmetic_tokenizer()
  for p in _problems(500):
    response = arithmetic.demonstration(p, rng, noise=0.0)
    assert arithmetic.is_valid_chain(response, p["prompt"]), response
    assert arithmetic.verify(response, p["answer"]) == 1.0
    tok.encode(p["prompt"] + response)  # Every character is in the tokenizer's alphabet.
    assert len(response) <= arithmetic.response_length_bound() <= 40


def test_demonstrations_cover_many_orders():
  problem = {"prompt": "23+7+15+9=", "answer": "54"}
  rng = np.random.default_rng(0)
  responses = [arithmetic.demonstration(problem, rng) for _ in range(300)]
  orders = {arithmetic.solution_order(r) for r in responses}
  assert orders <= set(itertools.permutations((23, 7, 15, 9)))
  assert len(orders) >= 20  # Of 4! = 24 paths.
  assert all(arithmetic.is_valid_chain(r, problem["prompt"]) for r in responses)


def test_noisy_demonstrations_slip_at_the_expected_rate():
  problems = _problems(2000)
  rng = np.random.default_rng(1)
  rewards = []
  for p in problems:
    response = arithmetic.demonstration(p, rng, noise=0.2)
    steps, final = arithmetic.parse_chain(response)  # Noisy chains stay well-formed...
    assert all(s[0] == prev[2] for prev, s in itertools.pairwise(steps))  # ...and propagate slips.
    assert final == steps[-1][2]
    assert len(response) <= arithmetic.response_length_bound()
    rewards.append(arithmetic.verify(response, p["answer"]))
  # About (1 - 0.2)^(k - 1) for k in {3, 4}: 0.58, measured 0.59.
  assert 0.54 < np.mean(rewards) < 0.64


def test_every_step_slips_at_noise_one():
  rng = np.random.default_rng(0)
  for p in _problems(200, min_terms=2, max_terms=3):
    response = arithmetic.demonstration(p, rng, noise=1.0)
    steps, _ = arithmetic.parse_chain(response)
    assert steps[0][0] + steps[0][1] != steps[0][2]
    assert not arithmetic.is_valid_chain(response, p["prompt"])


def test_carry_bug_drops_the_carry_only_on_carry_steps():
  rng = np.random.default_rng(0)
  carries = dropped = 0
  for p in _problems(1000, max_value=9):
    steps, _ = arithmetic.parse_chain(arithmetic.demonstration(p, rng, carry_bug=0.6))
    for left, right, result in steps:
      if left % 10 + right % 10 >= 10:
        carries += 1
        assert result in (left + right, left + right - 10)
        dropped += result == left + right - 10
      else:
        assert result == left + right  # no slips at noise 0; non-carry steps are never touched
  assert carries > 500
  assert 0.55 < dropped / carries < 0.65


def test_demonstration_rejects_bad_rates():
  problem = _problems(1)[0]
  with pytest.raises(ValueError, match="carry_bug"):
    arithmetic.demonstration(problem, np.random.default_rng(0), carry_bug=1.5)


def test_verify_correct_and_wrong():
  assert arithmetic.verify("23+9=32,32+7=39,39+15=54>54", "54") == 1.0
  assert arithmetic.verify(">54", "54") == 1.0
  assert arithmetic.verify("1+2=3>7>54 ", "54") == 1.0  # The last marker counts.
  assert arithmetic.verify(">054", "54") == 1.0
  assert arithmetic.verify("23+9=32,32+7=39,39+15=55>55", "54") == 0.0
  assert arithmetic.verify("23+9=32,32+7=39,39+15=54>55", "54") == 0.0
  assert arithmetic.verify("23+9=32,32+7=39,39+15=54", "54") == 0.0  # No marker.


@pytest.mark.parametrize(
  "response",
  [
    "",
    ">",
    ">>",
    "54",
    "54>",
    ">5 4",
    ">54,",
    ">54+1",
    ">-54",
    ">٥٤",
    ">" + "9" * 5000,
    None,
    b">54",
    54,
  ],
)
def test_verify_garbage_is_zero(response):
  assert arithmetic.verify(response, "54") == 0.0


@pytest.mark.parametrize("answer", ["", "abc", None, "5 4"])
def test_verify_bad_gold_is_zero(answer):
  assert arithmetic.verify(">54", answer) == 0.0


def test_is_valid_chain_rejects_wrong_chains():
  prompt = "23+7+15+9="
  assert arithmetic.is_valid_chain("23+9=32,32+7=39,39+15=54>54", prompt)
  assert not arithmetic.is_valid_chain("23+9=32,32+7=39,39+15=54>55", prompt)  # Final != last sum.
  assert not arithmetic.is_valid_chain("23+9=32,31+8=39,39+15=54>54", prompt)  # Not continuing.
  assert not arithmetic.is_valid_chain("23+9=32,32+7=39,39+16=55>55", prompt)  # Wrong term.
  assert not arithmetic.is_valid_chain("23+9=32,32+22=54>54", prompt)  # Terms missing.
  assert not arithmetic.is_valid_chain("23+9=32,32+7=39,", prompt)
