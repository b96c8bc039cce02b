"""Tests of the grain prompt / SFT pipelines: determinism, epochs, checkpoint resume, sharding."""

import json

import numpy as np
import pytest

from jax_rlvr.data import builders, pipeline
from jax_rlvr.data.tasks import arithmetic


def _source(n=10):
  rng = np.random.default_rng(0)
  return [
    {k: v.encode() for k, v in arithmetic.sample_problem(rng, problem_id=f"p{i}").items()}
    for i in range(n)
  ]


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def _ids(batches):
  return [i for b in batches for i in b["id"]]


def test_batches_are_lists_of_str():
  batch = next(pipeline.make_iterator(pipeline.prompt_dataset(_source(), batch_size=4, seed=0)))
  assert set(batch) == {"prompt", "answer", "source", "id"}
  for values in batch.values():
    assert isinstance(values, list) and len(values) == 4
    assert all(isinstance(v, str) for v in values)


def test_same_seed_same_stream_other_seed_other_order():
  make = lambda seed: pipeline.make_iterator(
    pipeline.prompt_dataset(_source(), batch_size=3, seed=seed)
  )
  assert _take(make(0), 8) == _take(make(0), 8)
  assert _ids(_take(make(0), 3)) != _ids(_take(make(1), 3))


def test_each_epoch_is_a_new_permutation():
  ids = _ids(
    _take(pipeline.make_iterator(pipeline.prompt_dataset(_source(), batch_size=5, seed=0)), 6)
  )
  epochs = [ids[0:10], ids[10:20], ids[20:30]]
  for epoch in epochs:
    assert sorted(epoch) == sorted(f"p{i}" for i in range(10))
  assert len({tuple(e) for e in epochs}) == 3


def test_finite_epochs_drop_the_incomplete_batch():
  batches = list(
    pipeline.make_iterator(pipeline.prompt_dataset(_source(), batch_size=3, seed=0, num_epochs=2))
  )
  assert len(batches) == 6  # 20 records -> 6 full batches of 3.


@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize("consumed", [1, 3, 4])  # Batch 4 (index 3) straddles the first epoch end.
def test_resume_from_state_equals_uninterrupted_stream(consumed, prefetch):
  dataset = pipeline.prompt_dataset(_source(), batch_size=3, seed=5)
  reference = _take(pipeline.make_iterator(dataset, prefetch=prefetch), consumed + 6)

  interrupted = pipeline.make_iterator(dataset, prefetch=prefetch)
  _take(interrupted, consumed)
  state = json.loads(json.dumps(interrupted.get_state()))
  _take(interrupted, 2)  # Progress after the checkpoint is lost.

  restored = pipeline.make_iterator(pipeline.prompt_dataset(_source(), batch_size=3, seed=5))
  restored.set_state(state)
  assert _take(restored, 6) == reference[consumed:]


def test_shards_split_each_global_batch():
  """Three processes with batch 2 each see, together, the batches of one process with batch 6:
  disjoint contiguous blocks of every global batch, in order."""
  source = _source(30)
  single = _take(pipeline.make_iterator(pipeline.prompt_dataset(source, batch_size=6, seed=0)), 7)
  shards = [
    _take(
      pipeline.make_iterator(
        pipeline.prompt_dataset(source, batch_size=2, seed=0, shard_index=i, shard_count=3)
      ),
      7,
    )
    for i in range(3)
  ]
  for step, batch in enumerate(single):
    joined = sum((shards[i][step]["id"] for i in range(3)), [])
    assert joined == batch["id"]
    assert len(set(joined)) == 6
  with pytest.raises(ValueError):
    pipeline.prompt_dataset(source, batch_size=1, seed=0, shard_index=3, shard_count=3)


def test_sft_stream_is_deterministic_noisy_and_resumable():
  source = _source(50)
  dataset = pipeline.sft_dataset(source, batch_size=10, seed=0, noise=0.3)
  reference = _take(pipeline.make_iterator(dataset), 12)
  responses = [r for b in reference for r in b["response"]]
  for b in reference:
    for prompt, response in zip(b["prompt"], b["response"], strict=True):
      assert sorted(arithmetic.solution_order(response)) == sorted(arithmetic.parse_prompt(prompt))
  rewards = [
    arithmetic.verify(r, a)
    for b in reference
    for r, a in zip(b["response"], b["answer"], strict=True)
  ]
  assert 0.2 < np.mean(rewards) < 0.7
  # Epochs 1 and 2 show the same prompts with different demonstrations.
  first, second = (
    sorted(zip(_ids(reference[:5]), responses[:50], strict=True)),
    sorted(zip(_ids(reference[5:10]), responses[50:100], strict=True)),
  )
  assert [i for i, _ in first] == [i for i, _ in second]
  assert [r for _, r in first] != [r for _, r in second]

  interrupted = pipeline.make_iterator(dataset)
  _take(interrupted, 7)
  restored = pipeline.make_iterator(pipeline.sft_dataset(source, batch_size=10, seed=0, noise=0.3))
  restored.set_state(interrupted.get_state())
  assert _take(restored, 5) == reference[7:]

  clean = next(
    pipeline.make_iterator(pipeline.sft_dataset(source, batch_size=10, seed=0, noise=0.0))
  )
  assert all(
    arithmetic.verify(r, a) for r, a in zip(clean["response"], clean["answer"], strict=True)
  )


def test_pipeline_over_prepared_tfds_source(tmp_path):
  sources = builders.prepare_arithmetic(tmp_path, num_train=64, num_test=8, seed=0)
  iterator = pipeline.make_iterator(
    pipeline.prompt_dataset(sources["train"], batch_size=16, seed=0)
  )
  ids = _ids(_take(iterator, 4))
  assert sorted(ids) == sorted(f"arithmetic_chains/train/{i}" for i in range(64))
