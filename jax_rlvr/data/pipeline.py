"""grain pipelines over prompt records: shuffled, repeated, sharded, batched, checkpointable.

A source is any random-access sequence (`len`, `[i]`) of dicts with the 4-field schema of
jax_rlvr.data.builders (prompt, answer, source, id), e.g. `prepare_arithmetic(dir)["train"]`; values
may be bytes or str. A batch is a dict of P-long Python lists of str (the train loop tokenizes):

    it = make_iterator(prompt_dataset(sources["train"], batch_size=32, seed=0))
    batch = next(it)            # {"prompt": [32 str], "answer": [...], "source": ..., "id": ...}
    state = it.get_state()      # JSON-serializable, e.g. {"next_index": 1}
    it.set_state(state)         # the next batches are the ones an uninterrupted iterator yields

Order: process `shard_index` of `shard_count` keeps records shard_index, shard_index + shard_count,
...; each epoch of a shard is a fresh permutation derived from `seed`, and batches run across epoch
ends.
"""

from collections.abc import Sequence
from typing import Any

import grain
import numpy as np

from jax_rlvr.data.tasks import arithmetic


def prompt_dataset(
  source: Sequence[dict[str, Any]],
  *,
  batch_size: int,
  seed: int,
  shard_index: int = 0,
  shard_count: int = 1,
  num_epochs: int | None = None,
) -> grain.MapDataset:
  """Batches of `batch_size` prompt records (this process's share), shuffled per epoch from `seed`.

  Args:
    source: random-access records with str/bytes values.
    batch_size: P, records per batch on this process.
    seed: shuffle seed in [0, 2**32).
    shard_index, shard_count: the global batch holds batch_size × shard_count records in the
      order one process would see them; process shard_index keeps the contiguous block
      [shard_index × batch_size, (shard_index + 1) × batch_size). So any number of processes
      trains on exactly the batches of a single process (records are small prompt strings, so
      every process reading the global batch's records costs little).
    num_epochs: None repeats forever; otherwise the incomplete last batch is dropped.

  Returns:
    grain.MapDataset whose elements are dict[str, list[str]] with P entries per list.
  """
  records = _records(source, seed, num_epochs)
  return _share(records, batch_size, shard_index, shard_count)


def sft_dataset(
  source: Sequence[dict[str, Any]],
  *,
  batch_size: int,
  seed: int,
  noise: float,
  carry_bug: float = 0.0,
  shard_index: int = 0,
  shard_count: int = 1,
  num_epochs: int | None = None,
) -> grain.MapDataset:
  """prompt_dataset plus a "response" field: an arithmetic demonstration with slip rate `noise`
  and misconception rate `carry_bug` (jax_rlvr/data/tasks/arithmetic.demonstration).

  The demonstration of position i draws its randomness from (seed, i), so each epoch shows new term
  orders and slips and the stream is reproducible and checkpointable.

  Returns:
    grain.MapDataset of dict[str, list[str]] with keys prompt, answer, source, id, response.
  """

  def add_response(record: dict[str, str], rng: np.random.Generator) -> dict[str, str]:
    response = arithmetic.demonstration(record, rng, noise=noise, carry_bug=carry_bug)
    return {**record, "response": response}

  records = _records(source, seed, num_epochs).random_map(add_response)
  return _share(records, batch_size, shard_index, shard_count)


def make_iterator(dataset: grain.MapDataset, *, prefetch: int = 2) -> grain.DatasetIterator:
  """A checkpointable iterator (`get_state()` -> JSON-able dict, `set_state(state)`) over `dataset`.

  `prefetch` batches are read ahead on one background thread; 0 reads synchronously.
  """
  read_options = grain.ReadOptions(num_threads=1 if prefetch else 0, prefetch_buffer_size=prefetch)
  return iter(dataset.to_iter_dataset(read_options))


def _records(
  source: Sequence[dict[str, Any]], seed: int, num_epochs: int | None
) -> grain.MapDataset:
  if len(source) == 0:
    raise ValueError("The data source is empty.")
  # shuffle before repeat: grain then draws a new permutation for every epoch.
  return grain.MapDataset.source(source).seed(seed).shuffle().repeat(num_epochs).map(_to_str)


def _share(
  records: grain.MapDataset, batch_size: int, shard_index: int, shard_count: int
) -> grain.MapDataset:
  """Global batches of batch_size × shard_count records -> this shard's contiguous block."""
  if not 0 <= shard_index < shard_count:
    raise ValueError(f"Need 0 <= shard_index < shard_count, got {shard_index=}, {shard_count=}.")
  lo, hi = shard_index * batch_size, (shard_index + 1) * batch_size
  batches = records.batch(batch_size * shard_count, drop_remainder=True, batch_fn=_batch_as_lists)
  if shard_count == 1:
    return batches
  return batches.map(lambda batch: {key: values[lo:hi] for key, values in batch.items()})


def _to_str(record: dict[str, Any]) -> dict[str, str]:
  return {k: v.decode("utf-8") if isinstance(v, bytes) else str(v) for k, v in record.items()}


def _batch_as_lists(records: Sequence[dict[str, str]]) -> dict[str, list[str]]:
  return {key: [record[key] for record in records] for key in records[0]}
