"""The diversity-subset job: embeds, clusters and writes the subsets of a run config's train split.

Shape letters (as in jax_rlvr/__init__.py): Q prompts.

scripts/diversity_subsets.py runs it; the pieces (embedding, K-means, subset files) are in
jax_rlvr/data/diversity_subsets.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import ml_collections
from flax import nnx

from jax_rlvr import components, sharding, tasks, train_state
from jax_rlvr.data import diversity_subsets as ds


def subsets_for_run(
  config: ml_collections.ConfigDict,
  workdir: str,
  *,
  k: int,
  sizes: Sequence[int],
  seed: int = 0,
  subset_dir: str | None = None,
  from_checkpoint: bool = False,
  batch_size: int = 32,
) -> dict[str, int]:
  """Embeds, clusters and writes the subsets of a config's train split; returns {name: size}.

  The policy is the run's latest checkpoint in `workdir` when `from_checkpoint` (read only: the
  run's files stay as they are), else what the config names (model.hf_checkpoint, or a random
  model.preset). The whole train split is used, whatever data.train_subset says. Files go to
  `subset_dir` (default: where data.train_subset looks, components.subset_dir).
  """
  task = tasks.build_task(config)
  tokenizer = components.build_tokenizer(config)
  if from_checkpoint:
    mesh = sharding.make_mesh(config.mesh.shape)
    _, graphdef, params = train_state.restore_params(config, workdir, mesh)
    policy = nnx.merge(graphdef, params)
  else:
    policy = components.build_policy(config, tokenizer)
  train = components.build_sources(config, workdir, task, apply_subset=False)["train"]
  records = [train[i] for i in range(len(train))]
  prompts = [ds.as_text(r["prompt"]) for r in records]
  ids = [ds.as_text(r["id"]) for r in records]
  labels_Q = ds.kmeans_labels(
    ds.embed_prompts(policy, tokenizer, prompts, batch_size=batch_size), k=k, seed=seed
  )
  subsets = ds.make_subsets(labels_Q, sizes, seed=seed)
  out_dir = subset_dir or components.subset_dir(config, workdir)
  ds.write_subsets(out_dir, subsets, ids, labels_Q, k=k, seed=seed)
  return {name: subset["size"] for name, subset in subsets.items()}
