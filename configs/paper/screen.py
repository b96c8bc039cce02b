"""Candidate settings for the real model's regime screen: where do negative samples raise entropy?

Each candidate is SmolLM2-135M-Instruct (configs/smollm2.py: Q = 8 prompts × G = 8, lr 1e-5) on a
task, prompt format and rollout temperature; `scripts/screen.py` measures each at the starting
policy, without training (jax_rlvr/jobs/screen.py): reward, mixed groups, tokens and confident
tokens by advantage sign, and the entropy probe's ΔH of Â > 0-only and Â < 0-only updates at N = 1
and N = 4 on the batch and on held-out prompts. The paper's premise (negative samples raise
entropy) needs confident errors: a penalised token raises entropy only when log π + H > 0.

The candidates span
  * the format: "prose" is the N = 1 study's setting (chatml_number, 24 new tokens: the model
    answers in a sentence and rambles, so wrong answers are long); "answer" opens the assistant
    turn with "The answer is" (template chatml_answer), grades the first number and stops after
    8 new tokens, so right and wrong responses are the same few tokens;
  * tasks the model gets confidently wrong: one-digit + - * (the reference), two-digit sums,
    one- by two-digit products, letter counting in a few words, picking the larger of two
    decimals (reasoning-gym number_format: "9.11 or 9.9");
  * rollout temperature 1.0 and 0.7.

Command:  .venv/bin/python scripts/screen.py --outdir docs/results/screen
One candidate as a training run: python scripts/train.py --config configs/paper/screen.py:<name>
Hardware: 2 CPU cores; 2-4 min a candidate (docs/results.md, "The regime screen").
"""

import ml_collections

from configs import common, smollm2

_PROSE = {}
_ANSWER = {
  "data.template": "chatml_answer",
  # The number right after "The answer is": the model often goes on ("2. 2 × 9"), and graded by
  # the last number such a response would be wrong (two-digit sums earned 0 on every sample).
  "data.answer_format": "first_number",
  "rollout.max_new_tokens": 8,
  "data.max_prompt_len": 48,
}
# The sampler's log-probs are the plain policy's (temperature 1): recompute them at 0.7.
_T07 = {"rollout.temperature": 0.7, "rl.old_logp": "recompute"}


def _arithmetic(digits: tuple[int, int], operators: tuple[str, ...]) -> dict:
  return {
    "data.task": "rg_basic_arithmetic",
    "data.rg_config": dict(
      min_terms=2,
      max_terms=2,
      min_digits=digits[0],
      max_digits=digits[1],
      operators=operators,
      allow_parentheses=False,
      allow_negation=False,
    ),
  }


_ONE_DIGIT = _arithmetic((1, 1), ("+", "-", "*"))
_TWO_DIGIT_SUMS = _arithmetic((2, 2), ("+",))
_PRODUCTS = _arithmetic((1, 2), ("*",))
_LETTERS = {
  "data.task": "rg_letter_counting",
  "data.rg_config": dict(min_words=1, max_words=3),
  "data.max_prompt_len": 64,
}
_DECIMALS = {
  "data.task": "rg_number_format",
  "data.rg_config": dict(
    min_num_candidates=2, max_num_candidates=2, min_n=1, max_n=10, max_delta=1.0
  ),
  "data.max_prompt_len": 144,  # long decimal spellings ("7.100000000e+00") reach ~120 tokens
}

# name -> overrides of configs/smollm2.py (later dicts win).
CANDIDATES = {
  "prose_1digit_t1.0": {**_ONE_DIGIT, **_PROSE},
  "prose_1digit_t0.7": {**_ONE_DIGIT, **_PROSE, **_T07},
  "answer_1digit_t1.0": {**_ONE_DIGIT, **_ANSWER},
  "answer_1digit_t0.7": {**_ONE_DIGIT, **_ANSWER, **_T07},
  "answer_2digit_sums_t1.0": {**_TWO_DIGIT_SUMS, **_ANSWER},
  "answer_2digit_sums_t0.7": {**_TWO_DIGIT_SUMS, **_ANSWER, **_T07},
  "answer_products_t1.0": {**_PRODUCTS, **_ANSWER},
  "answer_letters_t1.0": {**_ANSWER, **_LETTERS},
  "answer_decimals_t1.0": {**_ANSWER, **_DECIMALS},
  "answer_decimals_t0.7": {**_ANSWER, **_DECIMALS, **_T07},
}


def candidate_config(name: str, smoke: bool = False) -> ml_collections.ConfigDict:
  """configs/smollm2.py (its smoke with `smoke`) with the candidate's overrides."""
  if name not in CANDIDATES:
    raise ValueError(f"Unknown candidate {name!r}; choose one of {sorted(CANDIDATES)}.")
  c = smollm2.get_config("smoke" if smoke else None)
  for field, value in CANDIDATES[name].items():
    section, key = field.split(".")
    c[section][key] = ml_collections.ConfigDict(value) if isinstance(value, dict) else value
  return c


def get_config(arg=None):
  """arg = "<candidate>[,smoke]"."""
  args = common.parse_arg(arg)
  names = [a for a in args if a != "smoke"]
  if len(names) != 1:
    raise ValueError(f"Name one candidate, one of {sorted(CANDIDATES)}.")
  return candidate_config(names[0], smoke="smoke" in args)
