"""A procedurally generated sum task with several valid solution paths.

The prompt lists k numbers; a solution adds them as a chain of partial sums in any order and writes
the final answer after ">":

    prompt   "23+7+15+9="                         (<= 12 chars with the defaults)
    response "23+9=32,32+7=39,39+15=54>54"        (<= 36 chars with the defaults; EOS follows)

Every one of the k! term orders is a valid path, which gives the policy real choices (entropy) that
do not change the reward. Noisy demonstrations slip by a small amount on a step with probability
`noise`; the slip propagates to the final answer, so an SFT policy trained on them is right only
part of the time and RL can raise its accuracy by suppressing slips. Slips are improbable tokens
of the SFT policy. A demonstration can also follow a misconception: with probability `carry_bug`
a step whose units digits carry drops the carry (writes the sum minus 10). A policy trained on
those is confidently wrong: on carry steps its most likely token is the wrong one, as a reasoning
model's errors are mostly likely tokens, not improbable ones. The verifier only reads the integer
after the last ">".
"""

import re

import numpy as np

SOURCE = "arithmetic_chains"
ANSWER_MARKER = ">"
STEP_SEPARATOR = ","
# Slips of a noisy demonstration: off by one or two, or a dropped/extra carry.
DEFAULT_SLIPS = (-10, -2, -1, 1, 2, 10)

_PROMPT_RE = re.compile(r"\d+(?:\+\d+)+=")
_STEP_RE = re.compile(r"(\d+)\+(\d+)=(\d+)")
_CHAIN_RE = re.compile(r"\d+\+\d+=\d+(?:,\d+\+\d+=\d+)*>(\d+)")
# More digits than any answer can have; bounds int() on adversarial strings.
_MAX_ANSWER_DIGITS = 18


def sample_problem(
  rng: np.random.Generator,
  *,
  min_terms: int = 3,
  max_terms: int = 4,
  min_value: int = 1,
  max_value: int = 99,
  problem_id: str | None = None,
) -> dict[str, str]:
  """Samples k ~ U{min_terms..max_terms} numbers ~ U{min_value..max_value}.

  Returns:
    dict(prompt="23+7+15+9=", answer="54", id=problem_id or "arithmetic_chains/23+7+15+9",
    source="arithmetic_chains"); all values are str.
  """
  if not 2 <= min_terms <= max_terms:
    raise ValueError(f"Need 2 <= min_terms <= max_terms, got {min_terms=}, {max_terms=}.")
  if not 0 <= min_value <= max_value:
    raise ValueError(f"Need 0 <= min_value <= max_value, got {min_value=}, {max_value=}.")
  num_terms = int(rng.integers(min_terms, max_terms + 1))
  terms = [int(t) for t in rng.integers(min_value, max_value + 1, size=num_terms)]
  expression = "+".join(str(t) for t in terms)
  return dict(
    prompt=expression + "=",
    answer=str(sum(terms)),
    id=problem_id if problem_id is not None else f"{SOURCE}/{expression}",
    source=SOURCE,
  )


def parse_prompt(prompt: str) -> list[int]:
  """The terms of a prompt like "23+7+15+9=" ([23, 7, 15, 9]); raises ValueError otherwise."""
  if not _PROMPT_RE.fullmatch(prompt):
    raise ValueError(f"Not an arithmetic_chains prompt: {prompt!r}.")
  return [int(t) for t in prompt[:-1].split("+")]


def demonstration(
  problem: dict[str, str],
  rng: np.random.Generator,
  *,
  noise: float = 0.0,
  slips: tuple[int, ...] = DEFAULT_SLIPS,
  carry_bug: float = 0.0,
) -> str:
  """A solution chain for `problem` (only its "prompt" is read) in a random term order.

  With probability `noise` per step the written partial sum is off by a delta drawn from `slips`
  (kept >= 0), and later steps continue from the wrong value. With probability `carry_bug` a step
  whose units digits sum to 10 or more drops the carry (a systematic error, applied before slips).
  At noise 0 and carry_bug 0 the chain is correct.

  Returns:
    e.g. "23+9=32,32+7=39,39+15=54>54" (no EOS).
  """
  for name, rate in (("noise", noise), ("carry_bug", carry_bug)):
    if not 0.0 <= rate <= 1.0:
      raise ValueError(f"{name} must be in [0, 1], got {rate}.")
  terms = parse_prompt(problem["prompt"])
  order = rng.permutation(len(terms))
  total = terms[order[0]]
  steps = []
  for index in order[1:]:
    term = terms[index]
    result = total + term
    if total % 10 + term % 10 >= 10 and rng.random() < carry_bug:
      result -= 10
    if rng.random() < noise:
      deltas = [d for d in slips if d != 0 and result + d >= 0]
      result += int(rng.choice(deltas))
    steps.append(f"{total}+{term}={result}")
    total = result
  return STEP_SEPARATOR.join(steps) + ANSWER_MARKER + str(total)


def extract_answer(response: str) -> str | None:
  """The integer after the last ">" without leading zeros, or None if there is none."""
  if not isinstance(response, str):
    return None
  marker = response.rfind(ANSWER_MARKER)
  if marker < 0:
    return None
  return _normalize_integer(response[marker + 1 :])


def verify(response: str, answer: str) -> float:
  """1.0 if the integer after the last ">" of `response` equals `answer`, else 0.0; never raises."""
  try:
    predicted = extract_answer(response)
    gold = _normalize_integer(answer) if isinstance(answer, str) else None
    return 1.0 if predicted is not None and predicted == gold else 0.0
  except Exception:  # A reward function must never crash the train loop.
    return 0.0


def parse_chain(response: str) -> tuple[list[tuple[int, int, int]], int] | None:
  """Parses "a+b=c,c+d=e>e" into ([(a, b, c), (c, d, e)], e) (sums unchecked); None if malformed."""
  if not isinstance(response, str):
    return None
  match = _CHAIN_RE.fullmatch(response)
  if match is None:
    return None
  steps = [tuple(int(x) for x in m.groups()) for m in _STEP_RE.finditer(response)]
  return steps, int(match.group(1))


def solution_order(response: str) -> tuple[int, ...] | None:
  """The terms in the order the chain adds them, e.g. (23, 9, 7, 15); None if malformed."""
  parsed = parse_chain(response)
  if parsed is None:
    return None
  steps, _ = parsed
  return (steps[0][0], steps[0][1], *(step[1] for step in steps[1:]))


def is_valid_chain(response: str, prompt: str) -> bool:
  """True if every step is right, each step continues from the previous sum (on the left), the
  chain uses each term of `prompt` exactly once and the final answer is the last sum."""
  parsed = parse_chain(response)
  if parsed is None:
    return False
  steps, final = parsed
  for i, (left, right, result) in enumerate(steps):
    if left + right != result or (i > 0 and left != steps[i - 1][2]):
      return False
  return final == steps[-1][2] and sorted(solution_order(response)) == sorted(parse_prompt(prompt))


def response_length_bound(
  *, max_terms: int = 4, max_value: int = 99, slips: tuple[int, ...] = DEFAULT_SLIPS
) -> int:
  """An upper bound on the length (chars, no EOS) of any demonstration, noisy or not."""
  max_slip = max(max(slips, default=0), 0)
  width = lambda j: len(str(j * max_value + (j - 1) * max_slip))  # partial sum of j terms
  length = 0
  for j in range(2, max_terms + 1):
    length += width(j - 1) + 1 + width(1) + 1 + width(j)  # "s+t=r"
  length += (max_terms - 2) + 1 + width(max_terms)  # separators, ">" and the answer
  return length


def _normalize_integer(text: str) -> str | None:
  text = text.strip()
  if not text.isascii() or not text.isdigit() or len(text) > _MAX_ANSWER_DIGITS:
    return None
  return str(int(text))
