r"""Prepare one local math dataset and print what was read.

  python scripts/prepare_data.py --dataset dapo_math_17k --manual_dir data/math \
    [--data_dir WORKDIR/data]

Reads the dataset's files under <manual_dir>/<dataset>/ (a Hugging Face snapshot folder as it is;
see jax_rlvr/data/math_builders.py) and prints, per split: the files and their rows, the rows,
problems, duplicates and conflicts, the dropped rows by reason, the warnings and the first problems.
With --data_dir the ArrayRecord files a run reads are written there too (a run's data.data_dir,
default <workdir>/data), so the run starts without preparing; without it nothing is written.
"""

import os

from absl import app, flags

from jax_rlvr.data import math_builders, math_report

_DATASET = flags.DEFINE_enum(
  "dataset", None, sorted(math_builders.BUILDERS), "The dataset to prepare."
)
_MANUAL_DIR = flags.DEFINE_string(
  "manual_dir", None, "Root of the downloads (data.manual_dir): files are under <it>/<dataset>/."
)
_DATA_DIR = flags.DEFINE_string(
  "data_dir", None, "Where to write the prepared ArrayRecord files; unset: only read and report."
)
_EXAMPLES = flags.DEFINE_integer("examples", 3, "Problems printed per split.")
flags.mark_flags_as_required(["dataset", "manual_dir"])


def main(argv):
  del argv
  reads = math_report.prepare_report(_DATASET.value, _MANUAL_DIR.value, _DATA_DIR.value)
  directory = os.path.join(_MANUAL_DIR.value, _DATASET.value)
  print(math_report.format_report(_DATASET.value, reads, directory, _EXAMPLES.value))


if __name__ == "__main__":
  app.run(main)
