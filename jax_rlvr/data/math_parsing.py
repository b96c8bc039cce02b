r"""A math release's record to (problem, gold answer): answer normalisation and verl-format rows.

- Without an answer field, the answer is the last \boxed{} of solution|Solution (math-ai/aime24
  has problem, solution, url only), read by the grader's own parser. All-digit answers lose their
  leading zeros (AIME "055" -> "55"); numbers (AMC releases with float answers such as 27.0)
  become strings, integral floats without the ".0" (raw_records.RawRecord.text).
- verl-format rows (`prompt` as chat messages, `reward_model.ground_truth`, the row format of
  DAPO-Math-17k) give the problem as the content of the last "user" turn (or a plain string). The
  DAPO instruction ("Solve the following math problem step by step. The last line ... Answer:
  $Answer ..." / "Remember to put your answer on its own line after \"Answer:\".") is stripped
  when exactly that prefix and suffix are present, so that data.template decides the answer
  format; prompts without them are kept whole (DAPO-Math-17k's ~3.3k Chinese prompts may carry
  another instruction).
"""

import re
from collections.abc import Sequence

from jax_rlvr.data.raw_records import RawRecord
from jax_rlvr.rewards import extraction


def normalise_answer(answer: str) -> str:
  """All-digit answers without leading zeros (AIME's "055" -> "55"); anything else unchanged."""
  return str(int(answer)) if re.fullmatch(r"[0-9]+", answer) else answer


def answer_or_boxed(
  record: RawRecord,
  answer_fields: Sequence[str] = ("answer", "Answer"),
  solution_fields: Sequence[str] = ("solution", "Solution"),
) -> str:
  """The answer field, else the last \\boxed{} of the solution field; fails without either."""
  answer = record.text(answer_fields, required=False)
  if answer is None:
    solution = record.text(solution_fields, required=False)
    # The same parser as the grader's, so a gold answer and a response are read alike.
    answer = (extraction.last_boxed(solution) or "").strip() if solution else None
    if not answer:
      record.fail(
        f"no {' | '.join(answer_fields)} field and no \\boxed{{...}} in a "
        f"{' | '.join(solution_fields)} field."
      )
  return answer


_DAPO_PREFIX = (
  "Solve the following math problem step by step. The last line of your response should be of "
  "the form Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
)
_DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'


def is_verl_row(record: RawRecord) -> bool:
  """Whether the record has the verl / DAPO row format (prompt + reward_model.ground_truth)."""
  return "prompt" in record.fields and isinstance(record.fields.get("reward_model"), dict)


def parse_verl_row(record: RawRecord) -> tuple[str, str, bool]:
  """(problem, answer, whether the DAPO instruction was stripped) of a verl-format row."""
  _, prompt = record.first(("prompt",))
  if isinstance(prompt, list):
    turns = [t for t in prompt if isinstance(t, dict) and t.get("role") == "user"]
    if not turns:
      record.fail("field prompt is a list without a {'role': 'user', 'content': ...} turn.")
    prompt = turns[-1].get("content")
  if not isinstance(prompt, str) or not prompt.strip():
    record.fail("field prompt has no user text.")
  stripped = prompt.startswith(_DAPO_PREFIX) and prompt.endswith(_DAPO_SUFFIX)
  if stripped:
    prompt = prompt[len(_DAPO_PREFIX) : -len(_DAPO_SUFFIX)]
  return prompt.strip(), record.text(("reward_model.ground_truth",)), stripped
