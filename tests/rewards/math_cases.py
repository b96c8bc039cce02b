r"""Tricky (response, gold, expected reward) triples for the math grader, by category."""

FRACTIONS = [
  (r"So \boxed{\frac{1}{2}}", "0.5", 1.0),
  (r"So \boxed{\dfrac{1}{2}}", "0.5", 1.0),
  (r"So \boxed{0.5}", r"\dfrac{1}{2}", 1.0),
  (r"So \boxed{0.33}", r"\frac{1}{3}", 0.0),
  (r"So \boxed{0.333333}", r"\frac{1}{3}", 1.0),
  (r"So \boxed{\frac{2}{4}}", r"\frac{1}{2}", 1.0),
  (r"So \boxed{\tfrac{3}{4}}", "3/4", 1.0),
  (r"So \boxed{\frac{3}{4}}", r"\frac{4}{3}", 0.0),
  (r"So \boxed{\frac12}", "0.5", 1.0),
  (r"So \boxed{-\frac{1}{2}}", r"\frac{-1}{2}", 1.0),
  (r"So \boxed{\frac{\sqrt{2}}{2}}", r"\sqrt{2}/2", 1.0),
]
MIXED_NUMBERS = [
  (r"So \boxed{2\frac{1}{2}}", r"\frac{5}{2}", 1.0),
  (r"So \boxed{\frac{5}{2}}", r"2\frac{1}{2}", 1.0),
  (r"So \boxed{2 \frac{1}{2}}", "2.5", 1.0),
  (r"So \boxed{3\frac{1}{4}}", "3.25", 1.0),
  (r"So \boxed{1\frac{1}{2}}", r"\frac{5}{2}", 0.0),
]
PERCENTAGES = [
  (r"So \boxed{50\%}", "0.5", 1.0),
  (r"So \boxed{50\%}", "50", 1.0),
  (r"So \boxed{50}", r"50\%", 1.0),
  (r"So \boxed{0.5}", r"50\%", 1.0),
  (r"So \boxed{50}", "0.5", 0.0),
  (r"So \boxed{25\%}", r"50\%", 0.0),
  ("The answer is 12.5%.", r"12.5\%", 1.0),
]
UNITS = [
  (r"So \boxed{10 \text{ cm}}", "10", 1.0),
  (r"So \boxed{10}", r"10 \text{ cm}", 1.0),
  (r"So \boxed{10\text{cm}^2}", "10", 1.0),
  (r"So \boxed{12 \text{ cm}}", "10", 0.0),
  (r"So \boxed{\$5}", "5", 1.0),
  (r"So \boxed{90^\circ}", "90", 1.0),
  (r"So \boxed{5 \mbox{ meters}}", "5", 1.0),
  (r"So \boxed{\frac{1}{2} \text{ hours}}", "0.5", 1.0),
]
INTERVALS = [
  (r"So \boxed{[1, 2)}", "[1,2)", 1.0),
  (r"So \boxed{(1,2)}", "[1,2]", 0.0),
  (r"So \boxed{(-\infty, 3]}", r"(-\infty,3]", 1.0),
  (r"So \boxed{(-\infty, 3)}", r"(-\infty, 3]", 0.0),
  (r"So \boxed{\left[ 0, \frac{1}{2} \right]}", "[0, 0.5]", 1.0),
  (r"So \boxed{(0,1) \cup (2,3)}", r"(0,1)\cup(2,3)", 1.0),
]
SETS = [
  (r"So \boxed{\{1,2\}}", r"\{2,1\}", 1.0),
  (r"So \boxed{\{1,2\}}", r"\{1,3\}", 0.0),
  (r"So \boxed{\{1, 2, 3\}}", r"\{1,2\}", 0.0),
  (r"So \boxed{2, 1}", "1, 2", 1.0),
  (r"So \boxed{\emptyset}", r"\varnothing", 1.0),
]
MATRICES = [
  (
    r"So \boxed{\begin{bmatrix}1 & 2 \\ 3 & 4\end{bmatrix}}",
    r"\begin{pmatrix}1&2\\3&4\end{pmatrix}",
    1.0,
  ),
  (
    r"So \boxed{\begin{pmatrix}1&2\\4&3\end{pmatrix}}",
    r"\begin{pmatrix}1&2\\3&4\end{pmatrix}",
    0.0,
  ),
  (
    r"So \boxed{\begin{pmatrix} \frac12 & 0 \\ 0 & 1 \end{pmatrix}}",
    r"\begin{pmatrix}0.5&0\\0&1\end{pmatrix}",
    1.0,
  ),
  (r"So \boxed{\begin{pmatrix}1&2\end{pmatrix}}", r"\begin{pmatrix}1\\2\end{pmatrix}", 0.0),
  (
    "So\n$$\\boxed{\\begin{pmatrix}1\\\\\n2\\end{pmatrix}}$$",
    r"\begin{pmatrix}1\\2\end{pmatrix}",
    1.0,
  ),
]
SCIENTIFIC = [
  (r"So \boxed{1.5\times10^{3}}", "1500", 1.0),
  (r"So \boxed{1500}", r"1.5 \times 10^3", 1.0),
  (r"So \boxed{1.5e3}", "1500", 1.0),
  (r"So \boxed{6.02 \cdot 10^{23}}", r"6.02\times10^{23}", 1.0),
  (r"So \boxed{1.5\times10^{4}}", "1500", 0.0),
  (r"So \boxed{2.5 \times 10^{-3}}", "0.0025", 1.0),
]
LATEX_SPACING = [
  (r"So \boxed{\frac{ 1 }{ 2 }}", r"\frac{1}{2}", 1.0),
  (r"So \boxed{x \! + \! 1}", "x+1", 1.0),
  (r"So \boxed{\left( 1, 2 \right)}", "(1,2)", 1.0),
  (r"So \boxed{ \displaystyle \sqrt{2} }", r"\sqrt{2}", 1.0),
  (r"So \boxed{2\sqrt{2}}", r"\sqrt{8}", 1.0),
  (r"So \boxed{x^2 + 2x + 1}", "(x+1)^2", 1.0),
  (r"So \boxed{1,000}", "1000", 1.0),
  (r"So \boxed{5.00}", "5", 1.0),
  (r"So \boxed{3\,000}", "3000", 1.0),
  (r"So \boxed{\frac{ 1 }{ 3 }}", r"\frac{1}{2}", 0.0),
]
WHICH_ANSWER = [
  (r"First \boxed{3}. Wait, I made an error: \boxed{4}.", "4", 1.0),
  (r"First \boxed{4}. Wait, I made an error: \boxed{3}.", "4", 0.0),
  (r"Try $\{1,2\}$, then \boxed{\frac{1}{2}}, finally \fbox{7}", "7", 1.0),
  (r"The answer is \boxed{7}. Well, the answer is 8.", "7", 1.0),
  (r"Start \boxed{5 and never close it. The answer is 6.", "6", 1.0),
  ("The answer is 42.", "42", 1.0),
  ("So the final answer is $\\frac{3}{4}$. I hope it is correct.", "0.75", 1.0),
  ("Answer: 3.5.", "7/2", 1.0),
  ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72", 1.0),
  ("#### 72\nWait, recount.\n#### 73", "72", 0.0),
  ("I think it is 42 but I am not sure.", "42", 0.0),
]
OTHER = [
  (r"So \boxed{x=5}", "5", 1.0),
  (r"So \boxed{\text{(B)}}", "B", 1.0),
  (r"So \boxed{\text{Monday}}", r"\text{Tuesday}", 0.0),
  (r"So \boxed{x^2+1}", "x^2-1", 0.0),
  # Known limits of math-verify, asserted as they are:
  # exact constants are not rounded, so a decimal approximation of pi is wrong;
  (r"So \boxed{\pi}", "3.14159", 0.0),
  # degrees are not converted to radians;
  (r"So \boxed{30^\circ}", r"\frac{\pi}{6}", 0.0),
  # a lone "i" is a variable, not the imaginary unit;
  (r"So \boxed{\sqrt{-1}}", "i", 0.0),
  # variable names compare case-insensitively;
  (r"So \boxed{X}", "x", 1.0),
  # units are only recognised outside the text they follow.
  (r"So \boxed{\text{5 apples}}", "5", 0.0),
]

CASES = (
  FRACTIONS
  + MIXED_NUMBERS
  + PERCENTAGES
  + UNITS
  + INTERVALS
  + SETS
  + MATRICES
  + SCIENTIFIC
  + LATEX_SPACING
  + WHICH_ANSWER
  + OTHER
)
