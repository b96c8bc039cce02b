"""Tests of the data-diversity subsets: embeddings, K-means subsets, index files, selection."""

import json
import os

import jax
import numpy as np
import pytest
from flax import nnx

from configs import default as default_config
from jax_rlvr import components, tasks
from jax_rlvr.data import diversity_subsets as ds
from jax_rlvr.jobs import diversity_subsets as subsets_job
from jax_rlvr.models import Policy, get_preset
from jax_rlvr.models.char_tokenizer import arithmetic_tokenizer

# 10 clusters of sizes 1..10 (cluster c has c + 1 members), interleaved.
_LABELS = np.array([c for c in range(10) for _ in range(c + 1)])[
  np.random.default_rng(0).permutation(55)
]


def test_clustered_subsets_are_whole_largest_clusters():
  subsets = ds.make_subsets(_LABELS, sizes=(12, 30, 55), seed=0)
  # Largest first: 10 (+9 = 19 > 12); 10+9+8 = 27 (+7 = 34 > 30); all 55.
  assert {name: s["size"] for name, s in subsets.items()} == {
    "clustered_10": 10,
    "random_10": 10,
    "clustered_27": 27,
    "random_27": 27,
    "clustered_55": 55,
    "random_55": 55,
  }
  for subset in subsets.values():
    indices = subset["indices"]
    assert len(indices) == len(set(indices)) == subset["size"] and indices == sorted(indices)
    if subset["kind"] == "clustered":
      taken = set(_LABELS[indices].tolist())
      # Whole clusters: every member of a taken cluster is in the subset.
      assert sorted(np.flatnonzero(np.isin(_LABELS, list(taken))).tolist()) == indices
  assert set(_LABELS[subsets["clustered_27"]["indices"]].tolist()) == {9, 8, 7}
  # Random subsets are nested prefixes of one permutation and spread over clusters.
  assert set(subsets["random_10"]["indices"]) <= set(subsets["random_27"]["indices"])
  assert len(set(_LABELS[subsets["random_27"]["indices"]].tolist())) > 3


def test_subsets_are_deterministic_for_a_seed():
  a = ds.make_subsets(_LABELS, sizes=(30,), seed=1)
  assert a == ds.make_subsets(_LABELS, sizes=(30,), seed=1)
  assert a["random_27"] != ds.make_subsets(_LABELS, sizes=(30,), seed=2)["random_27"]


def test_size_below_the_largest_cluster_is_an_error():
  with pytest.raises(ValueError, match="largest cluster"):
    ds.make_subsets(_LABELS, sizes=(9,), seed=0)


def test_kmeans_finds_separated_clusters_deterministically():
  rng = np.random.default_rng(0)
  centers = np.eye(4) * 10.0
  points = np.concatenate([c + rng.normal(size=(6, 4)) * 0.1 for c in centers])
  labels = ds.kmeans_labels(points, k=4, seed=0)
  assert labels.tolist() == ds.kmeans_labels(points, k=4, seed=0).tolist()
  assert [len(set(labels[i * 6 : (i + 1) * 6].tolist())) for i in range(4)] == [1, 1, 1, 1]
  assert len(set(labels.tolist())) == 4


def test_embeddings_ignore_padding_and_batching():
  tokenizer = arithmetic_tokenizer()
  policy = Policy(get_preset("tiny", vocab_size=tokenizer.vocab_size), rngs=nnx.Rngs(params=0))
  prompts = ["1+2=", "12+34+56=", "7+8+9+10+11+12+13+14+15="]
  together = ds.embed_prompts(policy, tokenizer, prompts, batch_size=2)
  assert together.shape == (3, policy.cfg.embed_dim) and np.isfinite(together).all()
  alone = ds.embed_prompts(policy, tokenizer, prompts[:1], batch_size=1)
  np.testing.assert_allclose(together[0], alone[0], atol=1e-5)
  graphdef, params = nnx.split(policy)
  tokens = jax.numpy.asarray([tokenizer.encode(prompts[1], add_bos=True)])
  h = jax.jit(lambda p, t: nnx.merge(graphdef, p).hidden_states(t))(params, tokens)
  np.testing.assert_allclose(together[1], np.asarray(h[0]).mean(axis=0), atol=1e-5)


def _arithmetic_config(tmp_path, **data):
  config = default_config.get_config("smoke")
  config.data.train_size = 64
  config.data.data_dir = str(tmp_path / "data")
  for key, value in data.items():
    config.data[key] = value
  return config


def test_subsets_for_run_writes_files_that_build_data_selects(tmp_path):
  config = _arithmetic_config(tmp_path)
  sizes = subsets_job.subsets_for_run(
    config, str(tmp_path), k=4, sizes=(40,), seed=0, batch_size=16
  )
  (name,) = [n for n in sizes if n.startswith("clustered_")]
  size = sizes[name]
  subset_dir = components.subset_dir(config, str(tmp_path))
  assert subset_dir == os.path.join(config.data.data_dir, "subsets", "arithmetic")
  with open(os.path.join(subset_dir, f"{name}.json")) as f:
    record = json.load(f)
  with open(os.path.join(subset_dir, ds.MANIFEST)) as f:
    manifest = json.load(f)
  labels = np.asarray(manifest["labels"])
  assert len(labels) == 64 and sum(manifest["cluster_sizes"]) == 64
  assert (
    sorted(np.flatnonzero(np.isin(labels, labels[record["indices"]])).tolist())
    == (record["indices"])
  )

  config.data.train_subset = name
  task = tasks.build_task(config)
  train = components.build_sources(config, str(tmp_path), task)["train"]
  full = components.build_sources(config, str(tmp_path), task, apply_subset=False)["train"]
  assert len(train) == size
  assert [train[i]["id"].decode() for i in range(size)] == record["ids"]
  assert record["ids"] == [full[i]["id"].decode() for i in record["indices"]]
  rl_iter, _, _ = components.build_data(config, str(tmp_path), task)
  batches = 2 * size // config.rollout.prompts_per_step  # at least one whole epoch
  seen = {i for _ in range(batches) for i in next(rl_iter)["id"]}
  assert seen == set(record["ids"])


def test_select_subset_rejects_other_data(tmp_path):
  source = [{"id": f"a/{i}".encode()} for i in range(5)]
  ds.write_subsets(
    str(tmp_path),
    {"random_2": {"kind": "random", "size": 2, "indices": [1, 3]}},
    [f"a/{i}" for i in range(5)],
    np.zeros(5, int),
    k=1,
    seed=0,
  )
  assert [r["id"] for r in ds.select_subset(source, str(tmp_path), "random_2")] == [b"a/1", b"a/3"]
  with pytest.raises(ValueError, match="remake"):
    ds.select_subset([{"id": f"b/{i}"} for i in range(5)], str(tmp_path), "random_2")
  with pytest.raises(ValueError, match="train split of 5 records"):
    ds.select_subset(source[:4], str(tmp_path), "random_2")
  with pytest.raises(FileNotFoundError, match=r"found: \['random_2'\]"):
    ds.select_subset(source, str(tmp_path), "clustered_2")
