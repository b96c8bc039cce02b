"""Training-data diversity subsets (the paper's third factor): clustered vs random prompt subsets.

The train prompts are embedded with the policy (final normalised hidden states, mean-pooled over
the prompt's real tokens; the raw prompt, no template), clustered with K-means (K = 1000 in the
paper) and turned into subsets of the train split:

  clustered_<n>  low diversity: whole clusters, largest first (ties: lower cluster label first),
                 as many as fit in the requested size; n is the resulting size (the paper's subset
                 sizes 616 ... 10,001 are such sums of whole clusters);
  random_<n>     high diversity: n prompts drawn uniformly without replacement; all random subsets
                 are prefixes of one permutation (seeded), so smaller ones are nested in larger.

Each subset is a JSON index file `<subset_dir>/<name>.json`:
    {"name", "kind": "clustered" | "random", "size", "num_train", "k", "seed",
     "indices": [train record indices, sorted], "ids": [their "id" fields]}
and `<subset_dir>/manifest.json` holds the cluster label of every train record and the cluster
sizes. A run trains on one with `data.train_subset = "clustered_616"`; `select_subset` checks that
the ids still match the train split, so a subset made for other data fails loudly. The job that
makes them for a run's config is jax_rlvr/jobs/diversity_subsets.py.

    embeddings_QD = embed_prompts(policy, tokenizer, prompts)
    labels_Q = kmeans_labels(embeddings_QD, k=1000, seed=0)
    subsets = make_subsets(labels_Q, sizes=(616, 2000, 10001), seed=0)
    write_subsets(subset_dir, subsets, ids, labels_Q, k=1000, seed=0)

Shape letters (as in jax_rlvr/__init__.py): Q prompts, B rows of one forward pass, T tokens, D.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jax_rlvr.data import batching

MANIFEST = "manifest.json"


def embed_prompts(policy, tokenizer, prompts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
  """Mean-pooled final hidden states [Q, D] float32 of the raw prompts (BOS included if any).

  Every batch is padded to the same [batch_size, L] shape (L: the longest prompt, rounded up to a
  multiple of 64), so the forward pass compiles once.
  """
  add_bos = tokenizer.bos_id is not None
  ids = [tokenizer.encode(p, add_bos=add_bos) for p in prompts]
  length = -(-max(len(i) for i in ids) // 64) * 64
  graphdef, params = nnx.split(policy)
  out = []
  for start in range(0, len(ids), batch_size):
    chunk = ids[start : start + batch_size]
    chunk = chunk + [chunk[-1]] * (batch_size - len(chunk))
    tokens, mask = batching.pad_tokens(chunk, length, tokenizer.pad_id, left=True, what="prompt")
    out.append(np.asarray(_mean_pooled(graphdef, params, tokens, mask))[: len(ids) - start])
  return np.concatenate(out, axis=0)


@functools.partial(jax.jit, static_argnums=0)
def _mean_pooled(graphdef, params, tokens_BT, mask_BT):
  """[B, D] float32 mean of the final hidden states over the real tokens of each row."""
  h_BTD = nnx.merge(graphdef, params).hidden_states(tokens_BT, mask_BT=mask_BT)
  real_BT1 = (mask_BT > 0)[..., None]
  # where, not a product: hidden states of padding rows may be non-finite.
  total_BD = jnp.sum(jnp.where(real_BT1, h_BTD.astype(jnp.float32), 0.0), axis=1)
  return total_BD / jnp.maximum(real_BT1.sum(axis=1), 1).astype(jnp.float32)


def kmeans_labels(embeddings_QD: np.ndarray, *, k: int, seed: int) -> np.ndarray:
  """K-means cluster labels [Q] int (scikit-learn, k-means++ init, one run, seeded)."""
  from sklearn.cluster import KMeans

  if not 1 <= k <= len(embeddings_QD):
    raise ValueError(f"K-means needs 1 <= k <= {len(embeddings_QD)} prompts, got k={k}.")
  kmeans = KMeans(n_clusters=k, n_init=1, random_state=seed)
  return kmeans.fit_predict(np.asarray(embeddings_QD, np.float64)).astype(np.int64)


def make_subsets(labels_Q: np.ndarray, sizes: Sequence[int], *, seed: int) -> dict[str, dict]:
  """{name: {"kind", "size", "indices"}} with a clustered and a random subset per requested size.

  Raises ValueError when the largest cluster alone exceeds a requested size.
  """
  labels_Q = np.asarray(labels_Q)
  clusters, counts = np.unique(labels_Q, return_counts=True)
  order = sorted(range(len(clusters)), key=lambda i: (-counts[i], clusters[i]))
  cumulative = np.cumsum(counts[order])
  permutation = np.random.default_rng(seed).permutation(len(labels_Q))
  subsets = {}
  for size in sorted(sizes):
    taken = int(np.searchsorted(cumulative, size, side="right"))
    if taken == 0:
      raise ValueError(
        f"Subset size {size} is smaller than the largest cluster ({counts[order[0]]} prompts); "
        "ask for larger sizes or use a larger k."
      )
    chosen = clusters[[order[i] for i in range(taken)]]
    n = int(cumulative[taken - 1])
    subsets[f"clustered_{n}"] = {
      "kind": "clustered",
      "size": n,
      "indices": np.flatnonzero(np.isin(labels_Q, chosen)).tolist(),
    }
    subsets[f"random_{n}"] = {
      "kind": "random",
      "size": n,
      "indices": sorted(permutation[:n].tolist()),
    }
  return subsets


def write_subsets(
  subset_dir: str,
  subsets: dict[str, dict],
  ids: Sequence[str],
  labels_Q: np.ndarray,
  *,
  k: int,
  seed: int,
) -> list[str]:
  """Writes one JSON index file per subset plus the manifest; returns the file paths."""
  os.makedirs(subset_dir, exist_ok=True)
  common = {"num_train": len(ids), "k": k, "seed": seed}
  paths = []
  for name, subset in subsets.items():
    record = {"name": name, **subset, **common, "ids": [ids[i] for i in subset["indices"]]}
    paths.append(_write_json(os.path.join(subset_dir, f"{name}.json"), record))
  _, counts = np.unique(labels_Q, return_counts=True)
  manifest = {
    **common,
    "subsets": {name: s["size"] for name, s in subsets.items()},
    "cluster_sizes": sorted(counts.tolist(), reverse=True),
    "labels": np.asarray(labels_Q).tolist(),
  }
  paths.append(_write_json(os.path.join(subset_dir, MANIFEST), manifest))
  return paths


def _write_json(path: str, record: dict) -> str:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(record, f)
  os.replace(tmp, path)
  return path


class SubsetSource(Sequence):
  """The records `indices` of a random-access source, as a random-access source."""

  def __init__(self, source, indices: Sequence[int]):
    self.source = source
    self.indices = list(indices)

  def __len__(self) -> int:
    return len(self.indices)

  def __getitem__(self, i):
    return self.source[self.indices[i]]


def as_text(value: Any) -> str:
  """A record field (str or UTF-8 bytes) as str."""
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def select_subset(source, subset_dir: str, name: str) -> SubsetSource:
  """The subset `name` of the train `source`, after checking that its ids match the source."""
  path = os.path.join(subset_dir, f"{name}.json")
  if not os.path.exists(path):
    found = []
    if os.path.isdir(subset_dir):
      found = sorted(
        f[:-5] for f in os.listdir(subset_dir) if f.endswith(".json") and f != MANIFEST
      )
    raise FileNotFoundError(
      f"No subset {name!r} in {subset_dir} (found: {found}); make one with "
      "scripts/diversity_subsets.py or fix config.data.train_subset."
    )
  with open(path) as f:
    record = json.load(f)
  if record["num_train"] != len(source):
    raise ValueError(
      f"{path} was made for a train split of {record['num_train']} records, this one has "
      f"{len(source)}; remake the subsets for this data."
    )
  for index, expected in zip(record["indices"], record["ids"], strict=True):
    actual = as_text(source[index]["id"])
    if actual != expected:
      raise ValueError(
        f"{path}: train record {index} has id {actual!r}, the subset expects {expected!r}; "
        "remake the subsets for this data."
      )
  return SubsetSource(source, record["indices"])
