"""Shape letters: one table in jax_rlvr/__init__.py, and every module keeps to it.

A module whose code names an array by its axes (`logits_BTV`, `flat_Q1`) has a "Shape letters" line
that points at the table and lists only table letters, and its names use only the letters listed.
"""

import io
import os
import re
import tokenize

import jax_rlvr

PACKAGE = os.path.dirname(os.path.abspath(jax_rlvr.__file__))
# `logits_BTV`, `flat_Q1`: a suffix of capitals (and broadcast 1s) after a lower-case name.
SUFFIX = re.compile(r"^_?[a-z][a-z0-9_]*_([A-Z][A-Z0-9]*)$")


def table_letters(doc):
  """The letters of the table in a docstring: lines '  X  meaning'; a letter twice is an error."""
  letters = re.findall(r"^  ([A-Z])  \S", doc, flags=re.M)
  assert len(letters) == len(set(letters)), f"a letter is defined twice: {letters}"
  return set(letters)


def shape_line(source):
  """(mentions the table, the letters listed) of a module's "Shape letters" paragraph, or None."""
  match = re.search(r"^Shape letters([^:\n]*): (.*?)(?:\n\s*\n|\"\"\")", source, flags=re.M | re.S)
  if match is None:
    return None
  items = " ".join(match.group(2).split()).split(", ")
  listed = {item.split()[0].rstrip(".") for item in items}
  return "as in jax_rlvr/__init__.py" in match.group(1), listed


def suffix_letters(source):
  """Every letter used in the shape suffixes of the module's names (not its strings or comments)."""
  letters = set()
  for token in tokenize.generate_tokens(io.StringIO(source).readline):
    match = token.type == tokenize.NAME and SUFFIX.match(token.string)
    if match:
      letters |= set(re.sub(r"[0-9]", "", match.group(1)))
  return letters


def modules():
  for root, _, files in os.walk(PACKAGE):
    for name in sorted(files):
      if name.endswith(".py"):
        path = os.path.join(root, name)
        with open(path) as f:
          yield os.path.relpath(path, os.path.dirname(PACKAGE)), f.read()


def test_table_has_the_letters_of_the_package():
  assert table_letters(jax_rlvr.__doc__) == set("QGBPYTSVDFLAKEHMURCJXZW")


def test_table_rejects_a_letter_defined_twice():
  doc = "Shape letters\n\n  B  rows\n  Y  response tokens\n  Y  prompts\n"
  try:
    table_letters(doc)
  except AssertionError:
    return
  raise AssertionError("a table with Y twice was accepted")


def test_shape_line_and_suffixes_parse():
  source = '"""Doc.\n\nShape letters (as in jax_rlvr/__init__.py): B = Q·G rows, T,\nV.\n"""\n'
  source += "logits_BTV = _x_Q1 = SC_CLK_TCK = MAX_N = 1  # y_AH\n"
  assert shape_line(source) == (True, {"B", "T", "V"})
  assert suffix_letters(source) == {"B", "T", "V", "Q"}


def test_every_module_keeps_to_the_table():
  table = table_letters(jax_rlvr.__doc__)
  problems = []
  for path, source in modules():
    used = suffix_letters(source)
    line = shape_line(source)
    if line is None:
      if used:
        problems.append(f"{path}: names use {sorted(used)} but there is no 'Shape letters' line")
      continue
    points_at_table, listed = line
    if not points_at_table:
      problems.append(f"{path}: its 'Shape letters' line does not say 'as in jax_rlvr/__init__.py'")
    if listed - table:
      problems.append(f"{path}: lists {sorted(listed - table)}, not in the table")
    if used - listed:
      problems.append(f"{path}: names use {sorted(used - listed)}, not on its 'Shape letters' line")
  assert not problems, "\n".join(problems)
