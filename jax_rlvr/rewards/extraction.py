r"""Final-answer extraction from a model response: pure Python, linear time in the response length.

Which answer wins (the first rule that finds one):
  1. The last complete `\boxed{...}` or `\fbox{...}`: the box whose opening brace comes last among
     the boxes whose braces close. Braces nest; `\{` and `\}` are LaTeX set braces and do not count.
     So "\boxed{3} ... no, \boxed{4}" gives "4", and an unclosed "\boxed{5" is skipped.
  2. The last GSM8K-style "#### answer" line.
  3. The text after the last "answer is" or "answer:" (any case), up to the end of its sentence or
     line: "The answer is 42." gives "42"; "The final answer is $\frac{1}{2}$. I hope it is
     correct." gives "\frac{1}{2}".
  4. Only with `last_number=True`: the last number in the response ("-1,234.5"). Off by default:
     it rewards a response that never commits to an answer.
  Otherwise there is no answer (None).

`clean_answer` then strips what is notation rather than value: `$`/`\(`/`\[` delimiters, a trailing
period, a trailing `\text{...}` unit after a quantity ("10 \text{ cm}^2" -> "10"), `\displaystyle`,
and thousands separators ("3\,000", "3{,}000"); it rewrites `\dfrac`/`\tfrac` as `\frac`,
`\varnothing` as `\emptyset` and e-notation ("1.5e3" -> "1.5\times10^{3}"). Every regex here is
linear: no nested quantifiers, and box braces are matched by one stack scan.
"""

import re

_BOX_OPEN_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
# A LaTeX escape (two characters, e.g. `\{` or the `\\` of a matrix row) or a group brace.
_BRACE_TOKEN_RE = re.compile(r"\\.|[{}]", re.DOTALL)
_HASHES_RE = re.compile(r"####[ \t]*([^\n]*)")
_ANSWER_IS_RE = re.compile(r"answer(?:[ \t]+is)?[ \t]*:|answer[ \t]+is\b", re.IGNORECASE)
_NUMBER_RE = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
# A sentence ends at a period followed by white space (not the point of "3.5").
_SENTENCE_END_RE = re.compile(r"\.(?=\s)")
_MATH_DELIMITERS = (("$$", "$$"), ("$", "$"), (r"\(", r"\)"), (r"\[", r"\]"))
_UNESCAPED_DOLLAR_RE = re.compile(r"(?<!\\)\$")
_TEXT_UNIT_RE = re.compile(
  r"\\(?:text|textrm|textnormal|mbox|mathrm)\{[^{}]*\}(?:\^\{?\d\}?)?\s*"
  r"|\^\{?\\circ\}?\s*",
)
_E_NOTATION_RE = re.compile(r"([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)[eE]([-+]?\d+)")
_FRAC_VARIANT_RE = re.compile(r"\\[dt]frac(?![a-zA-Z])")
_VARNOTHING_RE = re.compile(r"\\varnothing(?![a-zA-Z])")
# A thin space or `{,}` between digit groups is a thousands separator: "3\,000", "3{,}000".
_THOUSANDS_RE = re.compile(r"(?<=\d)(?:\\,|\{,\})(?=\d{3}(?!\d))")
_DISPLAYSTYLE_RE = re.compile(r"\\displaystyle(?![a-zA-Z])\s*")
# Spacing commands and \left/\right sizing: notation only, dropped for the exact-match key. The
# first alternative keeps the row break `\\` intact.
_KEY_DROP_RE = re.compile(r"(\\\\)|\\(?:left|right)(?![a-zA-Z])|\\[,;:! ]|~")
_KEY_SPACE_RE = re.compile(r"\s+")
_KEY_PUNCT_SPACE_RE = re.compile(r" ?([^\w ]) ?")


def last_boxed(text: str) -> str | None:
  r"""Content of the last complete `\boxed{...}` / `\fbox{...}` in `text`, or None."""
  opens = {m.end() - 1 for m in _BOX_OPEN_RE.finditer(text)}
  if not opens:
    return None
  stack = []
  best_open = best_close = -1
  for m in _BRACE_TOKEN_RE.finditer(text, min(opens)):
    token = m.group()
    if token == "{":
      stack.append(m.start())
    elif token == "}" and stack:
      start = stack.pop()
      if start in opens and start > best_open:
        best_open, best_close = start, m.start()
  if best_open < 0:
    return None
  return text[best_open + 1 : best_close]


def _last_match(pattern: re.Pattern, text: str) -> re.Match | None:
  last = None
  for last in pattern.finditer(text):  # noqa: B007 -- only the last match is wanted
    pass
  return last


def _answer_after_phrase(text: str) -> str | None:
  match = _last_match(_ANSWER_IS_RE, text)
  if match is None:
    return None
  end_of_line = text.find("\n", match.end())
  rest = text[match.end() : end_of_line if end_of_line >= 0 else len(text)].strip()
  for open_, close in _MATH_DELIMITERS:
    if rest.startswith(open_):
      end = rest.find(close, len(open_))
      if end >= 0:
        return rest[len(open_) : end]
  end = _SENTENCE_END_RE.search(rest)
  return rest[: end.start()] if end else rest


def extract_answer(response: str, *, last_number: bool = False) -> str | None:
  """The final answer of `response` by the rules in the module docstring, cleaned; or None."""
  answer = last_boxed(response)
  if answer is None:
    match = _last_match(_HASHES_RE, response)
    if match is not None:
      answer = match.group(1)
  if answer is None:
    answer = _answer_after_phrase(response)
  if answer is None and last_number:
    match = _last_match(_NUMBER_RE, response)
    if match is not None:
      answer = match.group()
  if answer is None:
    return None
  answer = clean_answer(answer)
  return answer or None


def _strip_delimiters(answer: str) -> str:
  # A bounded number of passes keeps this linear on adversarial input such as "$$$$...".
  for _ in range(4):
    before = answer
    answer = answer.strip().rstrip(".").rstrip()
    for open_, close in _MATH_DELIMITERS:
      if len(answer) >= len(open_) + len(close) and answer.startswith(open_):
        if answer.endswith(close):
          answer = answer[len(open_) : len(answer) - len(close)]
          break
    if answer == before:
      break
  return _UNESCAPED_DOLLAR_RE.sub("", answer).strip()


def _rstrip_latex_spaces(text: str) -> str:
  # A scan from the end: a `(\\,|~)+$` regex would retry from every start, quadratic in a run.
  end = len(text)
  while end:
    if text[end - 1].isspace() or text[end - 1] == "~":
      end -= 1
    elif end >= 2 and text[end - 2] == "\\" and text[end - 1] in ",;:! ":
      end -= 2
    else:
      break
  return text[:end]


def _strip_trailing_unit(answer: str) -> str:
  r"""Drops a trailing `\text{unit}` (or `^\circ`) when what precedes it holds a number."""
  for match in _TEXT_UNIT_RE.finditer(answer):
    if match.end() != len(answer):
      continue
    head = _rstrip_latex_spaces(answer[: match.start()])
    if any(c.isdigit() for c in head):
      return head
  return answer


def clean_answer(answer: str) -> str:
  """Strips delimiters, a trailing period and unit; canonicalises notation (module docstring)."""
  answer = _strip_delimiters(answer)
  answer = _DISPLAYSTYLE_RE.sub("", answer)
  answer = _FRAC_VARIANT_RE.sub(r"\\frac", answer)
  answer = _VARNOTHING_RE.sub(r"\\emptyset", answer)
  answer = _THOUSANDS_RE.sub("", answer)
  answer = _strip_trailing_unit(answer).rstrip(". ")
  match = _E_NOTATION_RE.fullmatch(answer)
  if match is not None:
    answer = f"{match.group(1)}\\times10^{{{int(match.group(2))}}}"
  return answer


def answer_key(answer: str) -> str:
  """A normalised string for the exact-match fast path: equal keys mean equal answers.

  Drops spacing commands and \\left/\\right, and spaces next to punctuation ("[1, 2)" and
  "[1,2)" have one key; "2 1/2" and "21/2" do not).
  """
  key = _KEY_DROP_RE.sub(lambda m: m.group(1) or " ", answer)
  key = _KEY_SPACE_RE.sub(" ", key).strip()
  return _KEY_PUNCT_SPACE_RE.sub(r"\1", key)
