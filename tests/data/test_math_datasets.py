"""Tests of the local math dataset builders on tiny JSONL / Parquet files written here."""

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jax_rlvr.data import builders, math_datasets


def _write_jsonl(path, rows):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    for row in rows:
      f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")


def _write_parquet(path, rows):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pq.write_table(pa.Table.from_pylist(rows), path)


def _decoded(source):
  return [{k: v.decode() for k, v in source[i].items()} for i in range(len(source))]


def _prepare(tmp_path, name):
  return math_datasets.prepare_math(name, tmp_path / "tfds", tmp_path / "raw")


def _raw(tmp_path, name, file):
  return str(tmp_path / "raw" / name / file)


_DAPO_PROMPT = (
  math_datasets._DAPO_PREFIX + "What is $1+1$?" + math_datasets._DAPO_SUFFIX  # noqa: SLF001
)


def _dapo_row(prompt, truth, index):
  return {
    "data_source": "math_dapo",
    "prompt": [{"content": prompt, "role": "user"}],
    "ability": "MATH",
    "reward_model": {"ground_truth": truth, "style": "rule-lighteval/MATH_v2"},
    "extra_info": {"index": index},
  }


def test_dapo_parquet_dedupes_and_strips_the_instruction(tmp_path):
  rows = [
    _dapo_row(_DAPO_PROMPT, "2", "a"),
    _dapo_row("Find $x$ if $x^2=4$, $x>0$.", "2", "b"),
    _dapo_row(_DAPO_PROMPT, "2", "c"),  # the release repeats every problem
  ]
  _write_parquet(_raw(tmp_path, "dapo_math_17k", "dapo-math-17k.parquet"), rows)
  sources = _prepare(tmp_path, "dapo_math_17k")
  assert set(sources) == {"train"}
  train = _decoded(sources["train"])
  assert [r["prompt"] for r in train] == ["What is $1+1$?", "Find $x$ if $x^2=4$, $x>0$."]
  assert [r["id"] for r in train] == ["dapo_math_17k/a", "dapo_math_17k/b"]
  assert {r["answer"] for r in train} == {"2"} and {r["source"] for r in train} == {"dapo_math_17k"}
  assert all(set(r) == set(builders.FEATURE_NAMES) for r in train)


def test_math500_jsonl(tmp_path):
  rows = [
    {
      "problem": "Compute $\\frac{1}{2}+\\frac{1}{2}$.",
      "solution": "It is $\\boxed{1}$.",
      "answer": "1",
      "subject": "Algebra",
      "level": 1,
      "unique_id": "test/algebra/1.json",
    },
    {
      "problem": "Simplify $\\sqrt{8}$.",
      "solution": "...",
      "answer": "2\\sqrt{2}",
      "subject": "Algebra",
      "level": 2,
      "unique_id": "test/algebra/2.json",
    },
  ]
  _write_jsonl(_raw(tmp_path, "math_500", "test.jsonl"), rows)
  test = _decoded(_prepare(tmp_path, "math_500")["test"])
  assert [(r["prompt"], r["answer"], r["id"]) for r in test] == [
    ("Compute $\\frac{1}{2}+\\frac{1}{2}$.", "1", "math_500/test/algebra/1.json"),
    ("Simplify $\\sqrt{8}$.", "2\\sqrt{2}", "math_500/test/algebra/2.json"),
  ]


@pytest.mark.parametrize(
  "name, rows, expected",
  [
    (
      "aime_2024",
      [{"ID": "2024-I-1", "Problem": "Find m+n.", "Solution": "...", "Answer": 204}],
      [("Find m+n.", "204", "aime_2024/2024-I-1")],
    ),
    (
      "aime_2025",
      [{"question": "Find the sum.", "answer": "70"}, {"question": "How many?", "answer": "588"}],
      [("Find the sum.", "70", "aime_2025/test/0"), ("How many?", "588", "aime_2025/test/1")],
    ),
    (
      "amc_2023",
      [{"id": 0, "question": "What is 3^3?", "answer": 27.0, "url": "u"}],
      [("What is 3^3?", "27", "amc_2023/0")],
    ),
    (
      "minerva_math",
      [
        # Parquet columns are shared: the missing answer and solution are nulls.
        {
          "problem": "Find v.",
          "solution": "So $v=\\boxed{\\frac{1}{2}}$ m/s.",
          "answer": None,
          "idx": 0,
        },
        {"problem": "Find t.", "solution": None, "answer": "3", "idx": 1},
      ],
      [("Find v.", "\\frac{1}{2}", "minerva_math/0"), ("Find t.", "3", "minerva_math/1")],
    ),
  ],
)
def test_competition_parquet(tmp_path, name, rows, expected):
  _write_parquet(_raw(tmp_path, name, "train-00000-of-00001.parquet"), rows)
  test = _decoded(_prepare(tmp_path, name)["test"])
  assert [(r["prompt"], r["answer"], r["id"]) for r in test] == expected


def test_aime2025_reads_every_file_in_order(tmp_path):
  _write_jsonl(_raw(tmp_path, "aime_2025", "aime2025-II.jsonl"), [{"question": "B", "answer": "2"}])
  _write_jsonl(_raw(tmp_path, "aime_2025", "aime2025-I.jsonl"), [{"question": "A", "answer": "1"}])
  test = _decoded(_prepare(tmp_path, "aime_2025")["test"])
  assert [r["prompt"] for r in test] == ["A", "B"]


def test_gsm8k_splits_and_final_answer(tmp_path):
  train = [{"question": "Q1", "answer": "48/2 = <<48/2=24>>24\n#### 1,024"}]
  test = [{"question": "Q2", "answer": "so 18\n#### 18"}, {"question": "Q3", "answer": "#### -3"}]
  _write_jsonl(_raw(tmp_path, "gsm8k", "train.jsonl"), train)
  _write_parquet(_raw(tmp_path, "gsm8k", "test-00000-of-00001.parquet"), test)
  sources = _prepare(tmp_path, "gsm8k")
  assert [(r["prompt"], r["answer"]) for r in _decoded(sources["train"])] == [("Q1", "1024")]
  assert [(r["prompt"], r["answer"], r["id"]) for r in _decoded(sources["test"])] == [
    ("Q2", "18", "gsm8k/test/0"),
    ("Q3", "-3", "gsm8k/test/1"),
  ]


@pytest.mark.parametrize(
  "name, file, lines, message",
  [
    (
      "gsm8k",
      "test.jsonl",
      ['{"question": "Q", "answer": "#### 1"}', "{not json"],
      "line 2: invalid",
    ),
    (
      "gsm8k",
      "test.jsonl",
      ['{"question": "Q", "answer": "no marker"}'],
      "line 1: field answer does",
    ),
    ("gsm8k", "train.jsonl", ["", '{"answer": "#### 4"}'], "line 2: missing field question"),
    (
      "math_500",
      "test.jsonl",
      ['{"problem": "P", "answer": "  "}'],
      "line 1: field answer is empty",
    ),
    ("math_500", "test.jsonl", ["[1, 2]"], "line 1: expected a JSON object"),
    (
      "aime_2024",
      "a.jsonl",
      ['{"problem": "P", "answer": true}'],
      "line 1: field answer is a bool",
    ),
    (
      "aime_2024",
      "a.jsonl",
      ['{"id": 1, "problem": "P", "answer": "1"}', '{"id": 1, "problem": "Q", "answer": "2"}'],
      "line 2: id 'aime_2024/1' repeats the record at",
    ),
    ("minerva_math", "test.jsonl", ['{"problem": "P", "solution": "x=2"}'], "line 1: no answer"),
    (
      "dapo_math_17k",
      "d.jsonl",
      ['{"prompt": [{"role": "system", "content": "x"}], "reward_model": {"ground_truth": "1"}}'],
      "line 1: field prompt is a list without",
    ),
  ],
)
def test_malformed_jsonl_record_names_file_and_line(tmp_path, name, file, lines, message):
  if name == "gsm8k":  # both splits need a file
    for split in ("train", "test"):
      _write_jsonl(_raw(tmp_path, name, f"{split}.jsonl"), [{"question": "Q", "answer": "#### 1"}])
  _write_jsonl(_raw(tmp_path, name, file), lines)
  with pytest.raises(math_datasets.MalformedRecordError) as error:
    _prepare(tmp_path, name)
  assert os.path.join("raw", name, file) in str(error.value)
  assert message in str(error.value)


def test_malformed_parquet_row_names_file_and_row(tmp_path):
  rows = [_dapo_row("P1", "1", "a"), _dapo_row("P2", "1", "b"), _dapo_row("P3", "1", "c")]
  rows[2]["reward_model"] = {"ground_truth": None, "style": "x"}
  _write_parquet(_raw(tmp_path, "dapo_math_17k", "d.parquet"), rows)
  with pytest.raises(math_datasets.MalformedRecordError, match=r"d\.parquet row 3: missing field"):
    _prepare(tmp_path, "dapo_math_17k")


def test_missing_files_and_unknown_names(tmp_path):
  with pytest.raises(FileNotFoundError, match="math_500"):
    _prepare(tmp_path, "math_500")
  _write_jsonl(_raw(tmp_path, "gsm8k", "train.jsonl"), [{"question": "Q", "answer": "#### 1"}])
  with pytest.raises(FileNotFoundError, match="test split"):
    _prepare(tmp_path, "gsm8k")
  with pytest.raises(ValueError, match="Unknown math dataset"):
    _prepare(tmp_path, "math500")


def test_changed_files_are_prepared_again(tmp_path):
  path = _raw(tmp_path, "math_500", "test.jsonl")
  _write_jsonl(path, [{"problem": "P", "answer": "1", "unique_id": "a"}])
  assert _decoded(_prepare(tmp_path, "math_500")["test"])[0]["answer"] == "1"
  assert _decoded(_prepare(tmp_path, "math_500")["test"])[0]["answer"] == "1"  # cached
  _write_jsonl(path, [{"problem": "P", "answer": "22", "unique_id": "a"}])  # size changes
  assert _decoded(_prepare(tmp_path, "math_500")["test"])[0]["answer"] == "22"


def test_boxed_content_balances_braces():
  assert math_datasets.boxed_content("a \\boxed{1} b \\boxed{\\frac{a}{b}} c") == "\\frac{a}{b}"
  assert math_datasets.boxed_content("\\fbox{7}") == "7"
  assert math_datasets.boxed_content("\\boxed{unclosed") is None
  assert math_datasets.boxed_content("none") is None
