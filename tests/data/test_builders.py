"""Tests of the arithmetic_chains TFDS builder (ArrayRecord, no TensorFlow)."""

import os

import tensorflow_datasets as tfds

from jax_rlvr.data import builders
from jax_rlvr.data.tasks import arithmetic

_SMALL = dict(num_train=300, num_test=40, seed=7)


def _decoded(source):
  return [{k: v.decode() for k, v in source[i].items()} for i in range(len(source))]


def test_prepare_writes_array_record_with_the_schema(tmp_path):
  sources = builders.prepare_arithmetic(tmp_path, **_SMALL)
  config_dir = tmp_path / "arithmetic_chains" / builders.arithmetic_chains_config(**_SMALL).name
  files = sorted(os.listdir(config_dir / "1.0.0"))
  assert any(".array_record-" in f and "-train" in f for f in files), files
  assert any(".array_record-" in f and "-test" in f for f in files), files

  train, test = _decoded(sources["train"]), _decoded(sources["test"])
  assert (len(train), len(test)) == (300, 40)
  for record in train + test:
    assert set(record) == set(builders.FEATURE_NAMES)
    assert record["source"] == arithmetic.SOURCE
    assert record["answer"] == str(sum(arithmetic.parse_prompt(record["prompt"])))
  assert len({r["id"] for r in train + test}) == 340
  assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}

  # tfds.data_source reads the same records by config name, without regenerating.
  name = f"arithmetic_chains/{builders.arithmetic_chains_config(**_SMALL).name}"
  read_back = tfds.data_source(name, split="test", data_dir=tmp_path, download=False)
  assert _decoded(read_back) == test


def test_prepare_is_idempotent_and_deterministic(tmp_path):
  first = _decoded(builders.prepare_arithmetic(tmp_path / "a", **_SMALL)["train"])
  version_dir = (
    tmp_path / "a" / "arithmetic_chains" / builders.arithmetic_chains_config(**_SMALL).name
  )
  mtimes = {p: p.stat().st_mtime_ns for p in version_dir.rglob("*") if p.is_file()}
  again = _decoded(builders.prepare_arithmetic(tmp_path / "a", **_SMALL)["train"])
  assert {p: p.stat().st_mtime_ns for p in version_dir.rglob("*") if p.is_file()} == mtimes
  assert again == first

  elsewhere = _decoded(builders.prepare_arithmetic(tmp_path / "b", **_SMALL)["train"])
  assert elsewhere == first
  other_seed = _decoded(
    builders.prepare_arithmetic(tmp_path / "b", **{**_SMALL, "seed": 8})["train"]
  )
  assert {r["prompt"] for r in other_seed} != {r["prompt"] for r in first}


def test_config_name_encodes_parameters():
  a = builders.arithmetic_chains_config(seed=1, max_value=9)
  assert a is builders.arithmetic_chains_config(seed=1, max_value=9)
  assert a.name != builders.arithmetic_chains_config(seed=1, max_value=19).name
  assert builders.arithmetic_chains_config() is builders.ArithmeticChains.BUILDER_CONFIGS[0]
