r"""Final-answer extraction: which answer wins, cleaning, and linear time on hostile input."""

import time

import pytest

from jax_rlvr.rewards.extraction import answer_key, clean_answer, extract_answer, last_boxed


@pytest.mark.parametrize(
  "response, expected",
  [
    # Rule 1: the last complete \boxed{} / \fbox{}.
    (r"First \boxed{3}, then \boxed{4}.", "4"),
    (r"\boxed{\frac{1}{2}} and finally \fbox{7}", "7"),
    (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),  # Escaped set braces do not close the box.
    (r"\boxed{\begin{pmatrix}1\\2\end{pmatrix}}", r"\begin{pmatrix}1\\2\end{pmatrix}"),
    (r"\boxed {5}", "5"),
    (r"\boxed{6} and an unclosed \boxed{7", "6"),
    (r"\boxed{\boxed{8}}", "8"),  # Nested: the inner box opens last.
    (r"\boxed{3} beats #### 4 and the answer is 5", "3"),
    # Rule 2: the last "#### answer" line.
    ("48 + 24 = 72\n#### 72", "72"),
    ("#### 1\nno wait\n#### 2\n", "2"),
    ("#### 1,000", "1,000"),
    ("#### 9\nso the answer is 5", "9"),  # A "####" line beats "answer is".
    # Rule 3: the text after the last "answer is" / "answer:".
    ("The answer is 42.", "42"),
    ("the answer is 3.5. Done.", "3.5"),
    ("The final answer is $\\frac{1}{2}$. I hope it is correct.", r"\frac{1}{2}"),
    ("Answer: \\(x+1\\)", "x+1"),
    ("My answer is: 7", "7"),
    ("An answer is 1.\nThe answer is 2", "2"),
    (r"Start \boxed{5 and never close it. The answer is 6.", "6"),
    # Cleaning.
    (r"\boxed{$10$ \text{ cm}}", "10"),
    (r"\boxed{10 \text{ cm}^2}", "10"),
    (r"\boxed{90^{\circ}}", "90"),
    (r"\boxed{\text{(A)}}", r"\text{(A)}"),  # Text alone is the answer, not a unit.
    (r"\boxed{x \text{ or } y}", r"x \text{ or } y"),
    (r"\boxed{\dfrac{1}{2}.}", r"\frac{1}{2}"),
    (r"\boxed{\displaystyle\tfrac12}", r"\frac12"),
    (r"\boxed{1.5e3}", r"1.5\times10^{3}"),
    (r"\boxed{-2E-4}", r"-2\times10^{-4}"),
    (r"\boxed{3\,000}", "3000"),
    (r"\boxed{3{,}000}", "3000"),
    (r"\boxed{\varnothing}", r"\emptyset"),
  ],
)
def test_extract_answer(response, expected):
  assert extract_answer(response) == expected


@pytest.mark.parametrize(
  "response", ["", "I am not sure, maybe 42.", r"\boxed{}", r"\boxed{ $ $ }"]
)
def test_no_answer(response):
  assert extract_answer(response) is None


def test_last_number_fallback_is_opt_in():
  response = "First 12, then -1,234.5 apples"
  assert extract_answer(response) is None
  assert extract_answer(response, last_number=True) == "-1,234.5"
  assert extract_answer(r"\boxed{3} then 4", last_number=True) == "3"


def test_last_boxed_skips_unclosed_and_stray_braces():
  assert last_boxed(r"} \boxed{1} } \boxed{2") == "1"
  assert last_boxed("no box") is None
  assert last_boxed(r"\boxed{a\\{b}c}") == r"a\\{b}c"  # `\\` is a row break, `{b}` a group.


def test_clean_answer_keeps_values():
  assert clean_answer("3.5") == "3.5"
  assert clean_answer(r"1\,2345") == r"1\,2345"  # Not a thousands group.
  assert clean_answer(r"\$5") == r"\$5"  # An escaped dollar is a currency sign, not math mode.
  assert clean_answer(r"\left[1, 2\right)") == r"\left[1, 2\right)"


@pytest.mark.parametrize(
  "a, b, equal",
  [
    ("[1, 2)", "[1,2)", True),
    (r"\left( 1,2 \right)", "(1, 2)", True),
    (r"x \! + \, 1", "x+1", True),
    ("2 1/2", "21/2", False),
    (r"1&2\\ 3&4", r"1&2\ 3&4", False),
  ],
)
def test_answer_key(a, b, equal):
  assert (answer_key(a) == answer_key(b)) == equal


MB = 2**20


@pytest.mark.parametrize(
  "name, response",
  [
    ("plain text", "a" * MB),
    ("braces", "{" * (MB // 2) + "}" * (MB // 2)),
    ("unclosed boxes", r"\boxed{" * (MB // 7)),
    ("nested boxes", r"\boxed{" * (MB // 14) + "1" + "}" * (MB // 14)),
    ("escapes", "\\" * MB),
    ("answer phrases", "the answer is " * (MB // 14)),
    ("hashes", "####" * (MB // 4)),
    ("dollars in a box", r"\boxed{" + "$" * MB + "}"),
    ("periods in a box", r"\boxed{" + "." * MB + "}"),
    ("units in a box", r"\boxed{" + r"1\text{a}" * (MB // 9) + "}"),
    ("spaces before a unit", r"\boxed{" + r"\," * (MB // 2) + r"1\text{cm}}"),
    ("spaces after a number", r"\boxed{1" + r"\," * (MB // 2) + r"\text{cm}}"),
  ],
)
def test_linear_time_on_a_megabyte(name, response):
  start = time.perf_counter()
  extract_answer(response, last_number=True)
  assert time.perf_counter() - start < 2.0, name  # Quadratic time would take hours.
