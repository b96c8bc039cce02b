"""TFDS builders that write ArrayRecord files, no TensorFlow needed.

Every builder here yields the same 4-field text schema, one record per prompt:
    prompt: str, answer: str (gold, for the verifier), source: str (task/dataset name),
    id: str (unique).

Without TensorFlow only `file_format="array_record"` works, and records are read back through
`builder.as_data_source()` / `tfds.data_source(...)` (random access, values are bytes).

    sources = prepare_arithmetic(data_dir, num_train=20_000, num_test=500)
    sources["train"][0]  # {"prompt": b"23+7+15+9=", "answer": b"54", "source": ..., "id": ...}
"""

import dataclasses
import os
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from jax_rlvr.data.tasks import arithmetic

FEATURE_NAMES = ("prompt", "answer", "source", "id")
# Streams of the problem generator; test is drawn first so that train can skip its prompts.
_TRAIN_STREAM, _TEST_STREAM = 0, 1


def text_features() -> tfds.features.FeaturesDict:
  """The shared 4-field schema (all tfds.features.Text)."""
  return tfds.features.FeaturesDict({name: tfds.features.Text() for name in FEATURE_NAMES})


@dataclasses.dataclass(eq=False)
class ArithmeticChainsConfig(tfds.core.BuilderConfig):
  """Generation parameters; the config name encodes them all, so no two share files."""

  seed: int = 0
  num_train: int = 20_000
  num_test: int = 500
  min_terms: int = 3
  max_terms: int = 4
  min_value: int = 1
  max_value: int = 99


_PARAMS = ("seed", "num_train", "num_test", "min_terms", "max_terms", "min_value", "max_value")
_CONFIGS: dict[str, ArithmeticChainsConfig] = {}


def arithmetic_chains_config(**kwargs: Any) -> ArithmeticChainsConfig:
  """An ArithmeticChainsConfig named after its parameters (kwargs: the dataclass fields)."""
  unknown = set(kwargs) - set(_PARAMS)
  if unknown:
    raise ValueError(f"Unknown arithmetic_chains parameters {sorted(unknown)}; known: {_PARAMS}.")
  p = {name: kwargs.get(name, getattr(ArithmeticChainsConfig, name)) for name in _PARAMS}
  name = (
    f"seed{p['seed']}_n{p['num_train']}-{p['num_test']}"
    f"_k{p['min_terms']}-{p['max_terms']}_v{p['min_value']}-{p['max_value']}"
  )
  # One object per name: TFDS refuses a config named like a registered one unless it is that object.
  if name not in _CONFIGS:
    _CONFIGS[name] = ArithmeticChainsConfig(
      name=name, description="Sums as partial-sum chains.", **p
    )
  return _CONFIGS[name]


class ArithmeticChains(tfds.core.GeneratorBasedBuilder):
  """The arithmetic_chains task (jax_rlvr/data/tasks/arithmetic.py) as a TFDS dataset.

  Splits: train (num_train records), test (num_test records, no prompt shared with train).
  Records are a deterministic function of the config.
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [arithmetic_chains_config()]

  def _info(self) -> tfds.core.DatasetInfo:
    # DatasetInfo is built directly: `dataset_info_from_configs` expects metadata files next to the
    # module, which this package does not ship.
    return tfds.core.DatasetInfo(
      builder=self,
      description=arithmetic.__doc__,
      features=text_features(),
      homepage="https://arxiv.org/abs/2511.05993",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Procedural: nothing to download.
    return {
      "train": self._generate_examples(split="train"),
      "test": self._generate_examples(split="test"),
    }

  def _generate_examples(self, split: str):
    yield from enumerate(_arithmetic_problems(self.builder_config, split))


def _arithmetic_problems(config: ArithmeticChainsConfig, split: str) -> list[dict[str, str]]:
  """The problems of `split`, deterministic in `config` (ids "<source>/<split>/<index>")."""
  difficulty = dict(
    min_terms=config.min_terms,
    max_terms=config.max_terms,
    min_value=config.min_value,
    max_value=config.max_value,
  )

  def draw(stream: int, count: int, exclude: set[str]) -> list[dict[str, str]]:
    rng = np.random.default_rng([config.seed, stream])
    problems = []
    # The attempt cap only matters for tiny problem spaces, where train would repeat test anyway.
    for _ in range(100 * count + 1000):
      if len(problems) == count:
        return problems
      problem = arithmetic.sample_problem(rng, **difficulty)
      if problem["prompt"] not in exclude:
        problem["id"] = f"{arithmetic.SOURCE}/{split}/{len(problems)}"
        problems.append(problem)
    raise ValueError(f"Could not draw {count} {split} problems outside the test set for {config}.")

  test = draw(_TEST_STREAM, config.num_test, exclude=set())
  if split == "test":
    return test
  if split == "train":
    return draw(_TRAIN_STREAM, config.num_train, exclude={p["prompt"] for p in test})
  raise ValueError(f"Unknown split {split!r}.")


def prepare_arithmetic(data_dir: str | os.PathLike, **config_kwargs: Any) -> dict[str, Any]:
  """Prepares (once; later calls reuse the files) and opens the arithmetic_chains dataset.

  Args:
    data_dir: root directory; files go to data_dir/arithmetic_chains/<config name>/1.0.0/.
    **config_kwargs: fields of ArithmeticChainsConfig (seed, num_train, num_test, ...).

  Returns:
    {"train": source, "test": source}: random-access sources of dicts of bytes (FEATURE_NAMES).
  """
  builder = ArithmeticChains(
    config=arithmetic_chains_config(**config_kwargs),
    data_dir=os.fspath(data_dir),
    file_format="array_record",
  )
  tfds.disable_progress_bar()  # no bars for a few thousand synthetic records
  prepare_offline(builder)
  return builder.as_data_source()


def prepare_offline(builder: tfds.core.DatasetBuilder) -> None:
  """download_and_prepare with every network path (GCS mirrors, downloads) switched off."""
  builder.download_and_prepare(
    file_format="array_record",
    download_config=tfds.download.DownloadConfig(try_download_gcs=False),
  )
