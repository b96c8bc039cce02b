"""Tests of the local math dataset builders on tiny JSONL / Parquet files written here."""

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jax_rlvr.data import (
  builders,
  math_builders,
  math_parsing,
  math_report,
  math_splits,
  raw_records,
  reasoning_gym_tasks,
)
from jax_rlvr.rewards import extraction


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
  return math_builders.prepare_math(name, tmp_path / "tfds", tmp_path / "raw")


def _raw(tmp_path, name, file):
  return str(tmp_path / "raw" / name / file)


def _dapo_prompt(problem):
  return math_parsing._DAPO_PREFIX + problem + math_parsing._DAPO_SUFFIX  # noqa: SLF001


_DAPO_PROMPT = _dapo_prompt("What is $1+1$?")


def _dapo_row(prompt, truth, index):
  return {
    "data_source": "math_dapo",
    "prompt": [{"content": prompt, "role": "user"}],
    "ability": "MATH",
    "reward_model": {"ground_truth": truth, "style": "rule-lighteval/MATH_v2"},
    "extra_info": {"index": index},
  }


def test_dapo_snapshot_dedupes_drops_conflicts_and_counts(tmp_path):
  chinese = "求 $x$，使得 $x^2=9$ 且 $x>0$。"  # no DAPO instruction around it
  rows = [
    _dapo_row(_DAPO_PROMPT, "2", "a"),
    _dapo_row("Find $x$ if $x^2=4$, $x>0$.", "2", "b"),
    _dapo_row(_DAPO_PROMPT, "2", "c"),  # the release repeats every problem
    _dapo_row(_dapo_prompt("Find $y$."), "5", "d"),
    _dapo_row(_dapo_prompt("Find $y$."), "6", "e"),  # the same prompt with another answer
    _dapo_row(chinese, "3", "f"),
    _dapo_row(_dapo_prompt("Find $y$."), "5", "g"),
    _dapo_row(_DAPO_PROMPT, "2", "h"),
  ]
  # The release's layout: data/dapo-math-17k.parquet in the snapshot folder.
  _write_parquet(_raw(tmp_path, "dapo_math_17k", "data/dapo-math-17k.parquet"), rows)
  sources = _prepare(tmp_path, "dapo_math_17k")
  assert set(sources) == {"train"}
  train = _decoded(sources["train"])
  assert [r["prompt"] for r in train] == [
    "What is $1+1$?",
    "Find $x$ if $x^2=4$, $x>0$.",
    chinese,
  ]
  assert [r["id"] for r in train] == ["dapo_math_17k/a", "dapo_math_17k/b", "dapo_math_17k/f"]
  assert [r["answer"] for r in train] == ["2", "2", "3"]
  assert {r["source"] for r in train} == {"dapo_math_17k"}
  assert all(set(r) == set(builders.FEATURE_NAMES) for r in train)

  read = math_report.prepare_report("dapo_math_17k", tmp_path / "raw")["train"]
  assert (read.rows, read.problems, read.duplicates, read.conflicts) == (8, 3, 2, 1)
  assert read.dropped == {math_splits.DUPLICATE: 2, math_splits.CONFLICT: 3}
  assert read.unstripped == 2  # the Chinese prompt and the bare English one
  assert any("2 verl-format prompts lack the DAPO instruction" in w for w in read.warnings)
  assert any("1 prompts appear with different answers" in w for w in read.warnings)


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
  with pytest.raises(raw_records.MalformedRecordError) as error:
    _prepare(tmp_path, name)
  assert os.path.join("raw", name, file) in str(error.value)
  assert message in str(error.value)


def test_malformed_parquet_row_names_file_and_row(tmp_path):
  rows = [_dapo_row("P1", "1", "a"), _dapo_row("P2", "1", "b"), _dapo_row("P3", "1", "c")]
  rows[2]["reward_model"] = {"ground_truth": None, "style": "x"}
  _write_parquet(_raw(tmp_path, "dapo_math_17k", "d.parquet"), rows)
  with pytest.raises(raw_records.MalformedRecordError, match=r"d\.parquet row 3: missing field"):
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


def test_gold_answers_and_responses_are_read_by_one_boxed_parser():
  """A solution's last \\boxed{} gives the gold answer with the grader's own parser: an escaped
  brace stays inside the box for both (the data side once stopped at it, reading `a\\`)."""
  solution = "so \\boxed{1} and finally \\boxed{a\\}b}"
  record = raw_records.RawRecord({"solution": solution}, "x.jsonl", 1)
  assert math_parsing.answer_or_boxed(record) == "a\\}b" == extraction.last_boxed(solution)
  assert reasoning_gym_tasks.extract_answer(solution) == "a\\}b"
  assert extraction.last_boxed("a \\boxed{1} b \\boxed{\\frac{a}{b}} c") == "\\frac{a}{b}"
  assert extraction.last_boxed("\\fbox{7}") == "7"
  assert extraction.last_boxed("\\boxed{unclosed") is None


def _aops_url(year, contest, number):
  return (
    f"https://artofproblemsolving.com/wiki/index.php/{year}_{contest}_Problems/Problem_{number}"
  )


def test_gsm8k_snapshot_reads_main_only(tmp_path):
  # openai/gsm8k: main/ and socratic/ hold the same questions (socratic adds sub-questions).
  for config, step in (("main", ""), ("socratic", "How many? ** ")):
    for split, question in (("train", "Q1"), ("test", "Q2")):
      path = f"{config}/{split}-00000-of-00001.parquet"
      rows = [{"question": question, "answer": f"{step}2+2 = <<2+2=4>>4\n#### 4"}]
      _write_parquet(_raw(tmp_path, "gsm8k", path), rows)
  sources = _prepare(tmp_path, "gsm8k")
  assert [(r["prompt"], r["answer"]) for r in _decoded(sources["train"])] == [("Q1", "4")]
  assert [(r["prompt"], r["answer"]) for r in _decoded(sources["test"])] == [("Q2", "4")]
  read = math_report.prepare_report("gsm8k", tmp_path / "raw")
  assert [os.path.relpath(p, tmp_path / "raw" / "gsm8k") for p in read["train"].files] == [
    "main/train-00000-of-00001.parquet"
  ]
  assert any("1 problems, the benchmark has 7473" in w for w in read["train"].warnings)


def test_gsm8k_auto_converted_layout_matches_split_folders(tmp_path):
  # The auto-converted Parquet layout names the split by a folder: main/train/0000.parquet.
  for split, question in (("train", "Q1"), ("test", "Q2")):
    rows = [{"question": question, "answer": "#### 1,000"}, {"question": "Q3", "answer": "#### 7"}]
    _write_parquet(_raw(tmp_path, "gsm8k", f"main/{split}/0000.parquet"), rows[:1])
    _write_parquet(_raw(tmp_path, "gsm8k", f"main/{split}/0001.parquet"), rows[1:])
  sources = _prepare(tmp_path, "gsm8k")
  assert [r["prompt"] for r in _decoded(sources["train"])] == ["Q1", "Q3"]
  assert [r["answer"] for r in _decoded(sources["test"])] == ["1000", "7"]


def test_aime2025_snapshot_reads_part_folders_in_order(tmp_path):
  # yentinglin/aime_2025: part I and part II in their own folders.
  for part, problems in (("part2", [("B", "2")]), ("part1", [("A", "1"), ("C", "003")])):
    rows = [{"problem": p, "answer": a, "year": 2025} for p, a in problems]
    _write_parquet(_raw(tmp_path, "aime_2025", f"{part}/train-00000-of-00001.parquet"), rows)
  test = _decoded(_prepare(tmp_path, "aime_2025")["test"])
  assert [(r["prompt"], r["answer"]) for r in test] == [("A", "1"), ("C", "3"), ("B", "2")]


def test_h4_aime2024_zero_padded_answers_are_normalised(tmp_path):
  rows = [
    {
      "id": 86,
      "problem": "Find the number of paths.",
      "solution": "So the answer is $\\boxed{055}$.",
      "answer": "055",
      "url": _aops_url(2024, "AIME_II", 6),
      "year": "2024",
    },
    {
      "id": 60,
      "problem": "Find $m+n$.",
      "solution": "...",
      "answer": "204",
      "url": _aops_url(2024, "AIME_I", 1),
      "year": "2024",
    },
  ]
  _write_parquet(_raw(tmp_path, "aime_2024", "data/train-00000-of-00001.parquet"), rows)
  test = _decoded(_prepare(tmp_path, "aime_2024")["test"])
  assert [(r["answer"], r["id"]) for r in test] == [("55", "aime_2024/86"), ("204", "aime_2024/60")]


def test_normalise_answer_only_touches_all_digit_answers():
  assert [math_parsing.normalise_answer(a) for a in ("055", "000", "7", "0.50", "-05", "05x")] == [
    "55",
    "0",
    "7",
    "0.50",
    "-05",
    "05x",
  ]


def test_over_wide_aime_release_keeps_the_benchmark_year(tmp_path):
  # AI-MO/aimo-validation-aime: AIME 2022-2024, 90 problems, the year only in the url.
  rows = [
    {"id": i, "problem": f"P{year}-{part}-{n}", "answer": float(n), "url": _aops_url(year, part, n)}
    for i, (year, part, n) in enumerate(
      (year, part, n)
      for year in (2022, 2023, 2024)
      for part in ("AIME_I", "AIME_II")
      for n in range(1, 16)
    )
  ]
  _write_parquet(_raw(tmp_path, "aime_2024", "data/train-00000-of-00001.parquet"), rows)
  test = _decoded(_prepare(tmp_path, "aime_2024")["test"])
  assert len(test) == 30
  assert {r["prompt"].split("-")[0] for r in test} == {"P2024"}
  assert {r["prompt"].split("-")[1] for r in test} == {"AIME_I", "AIME_II"}
  read = math_report.prepare_report("aime_2024", tmp_path / "raw")["test"]
  assert read.dropped == {"year 2022, not 2024": 30, "year 2023, not 2024": 30}
  assert read.warnings == []  # the benchmark's 30 problems


def test_over_wide_amc_release_keeps_2023_and_warns_on_the_count(tmp_path):
  # AI-MO/aimo-validation-amc: AMC 12 2022-2023 with float answers.
  rows = [
    {"id": 0, "problem": "Old.", "answer": 3.0, "url": _aops_url(2022, "AMC_12A", 4)},
    {"id": 1, "problem": "How many?", "answer": 27.0, "url": _aops_url(2023, "AMC_12A", 1)},
    {"id": 2, "problem": "Find k.", "answer": 0.5, "url": _aops_url(2023, "AMC_12B", 9)},
    {"id": 3, "problem": "No year.", "answer": 4.0, "url": "u"},  # kept: nothing to go by
  ]
  _write_parquet(_raw(tmp_path, "amc_2023", "data/train-00000-of-00001.parquet"), rows)
  test = _decoded(_prepare(tmp_path, "amc_2023")["test"])
  assert [(r["prompt"], r["answer"]) for r in test] == [
    ("How many?", "27"),
    ("Find k.", "0.5"),
    ("No year.", "4"),
  ]
  read = math_report.prepare_report("amc_2023", tmp_path / "raw")["test"]
  assert read.dropped == {"year 2022, not 2023": 1}
  assert read.warnings == [
    "amc_2023 test: 3 problems, the benchmark has 40; check that the files are the benchmark's "
    "(the report of scripts/prepare_data.py lists them)."
  ]


@pytest.mark.parametrize("name", ["aime_2024", "amc_2023", "math_500", "minerva_math"])
def test_answer_from_the_last_boxed_of_the_solution(tmp_path, name):
  # math-ai/aime24 and similar: problem, solution, url and no answer field.
  rows = [
    {
      "problem": "Find $n$.",
      "solution": "First $\\boxed{1}$, then $n=\\boxed{025}$.",
      "url": _aops_url(*((2024, "AIME_I") if name == "aime_2024" else (2023, "AMC_12A")), 2),
    }
  ]
  _write_jsonl(_raw(tmp_path, name, "test.jsonl"), rows)
  test = _decoded(_prepare(tmp_path, name)["test"])
  assert [(r["prompt"], r["answer"]) for r in test] == [("Find $n$.", "25")]


@pytest.mark.parametrize("name", ["aime_2024", "math_500", "gsm8k"])
def test_verl_format_benchmark_is_deduplicated(tmp_path, name):
  # BytedTsinghua-SIA/AIME-2024: DAPO rows, every problem repeated 32 times.
  problems = [("Find $a$.", "055"), ("Find $b$.", "12"), ("Find $c$.", "7")]
  rows = [
    _dapo_row(_dapo_prompt(problem), answer, f"{i}-{repeat}")
    for repeat in range(32)
    for i, (problem, answer) in enumerate(problems)
  ]
  if name == "gsm8k":  # verl's own GSM8K files: train.parquet and test.parquet
    splits = ("train", "test")
    for split in splits:
      _write_parquet(_raw(tmp_path, name, f"{split}.parquet"), rows)
  else:
    splits = ("test",)
    _write_parquet(_raw(tmp_path, name, "data/aime-2024.parquet"), rows)
  sources = _prepare(tmp_path, name)
  for split in splits:
    records = _decoded(sources[split])
    assert [(r["prompt"], r["answer"]) for r in records] == [
      ("Find $a$.", "55"),
      ("Find $b$.", "12"),
      ("Find $c$.", "7"),
    ]
    assert [r["id"] for r in records] == [f"{name}/0-0", f"{name}/1-0", f"{name}/2-0"]
  read = math_report.prepare_report(name, tmp_path / "raw")[splits[0]]
  assert (read.rows, read.problems, read.duplicates, read.unstripped) == (96, 3, 93, 0)


def test_prepare_report_counts_and_prints(tmp_path):
  rows = [
    _dapo_row(_DAPO_PROMPT, "2", "a"),
    _dapo_row(_DAPO_PROMPT, "2", "b"),
    _dapo_row(_dapo_prompt("Find $y$."), "5", "c"),
    _dapo_row(_dapo_prompt("Find $y$."), "6", "d"),
    _dapo_row(_dapo_prompt("Find $z$."), "1", "e"),
    _dapo_row(_dapo_prompt("Find $w$."), "04", "f"),
    _dapo_row(_dapo_prompt("Find $v$."), "9", "g"),
  ]
  _write_parquet(_raw(tmp_path, "dapo_math_17k", "data/dapo-math-17k.parquet"), rows[:4])
  _write_jsonl(_raw(tmp_path, "dapo_math_17k", "extra.jsonl"), rows[4:])
  raw, tfds_dir = tmp_path / "raw", tmp_path / "tfds"
  for _ in range(2):  # prepares, then reads the files again for the report of a cached dataset
    reads = math_report.prepare_report("dapo_math_17k", raw, tfds_dir)
    read = reads["train"]
    assert (read.rows, read.problems, read.duplicates, read.conflicts) == (7, 4, 1, 1)
    assert read.dropped == {math_splits.DUPLICATE: 1, math_splits.CONFLICT: 2}
  records = _decoded(math_builders.prepare_math("dapo_math_17k", tfds_dir, raw)["train"])
  assert records == read.records
  text = math_report.format_report("dapo_math_17k", reads, str(raw / "dapo_math_17k"))
  assert text.splitlines() == [
    "dapo_math_17k train:",
    "  files (2):",
    "    data/dapo-math-17k.parquet: 4 rows",
    "    extra.jsonl: 3 rows",
    "  rows 7, problems 4, duplicates 1, conflicts 1, prompts without the DAPO instruction 0",
    "  dropped rows:",
    f"    {math_splits.DUPLICATE}: 1",
    f"    {math_splits.CONFLICT}: 2",
    "  warning: dapo_math_17k train: 1 prompts appear with different answers and were dropped.",
    "  first 3 problems:",
    "    dapo_math_17k/a: 'What is $1+1$?' -> '2'",
    "    dapo_math_17k/e: 'Find $z$.' -> '1'",
    "    dapo_math_17k/f: 'Find $w$.' -> '4'",
  ]
