r"""Write the data-diversity subsets (clustered = low diversity, random = high) of a train split.

  python -m jax_rlvr.cli.diversity_subsets --config FILE[:arg] --workdir DIR \
    --k 1000 --sizes 616,2000,10001 [--from_checkpoint] [--seed 0] [--out_dir DIR]

Embeds every train prompt with the policy (mean-pooled final hidden states), runs K-means and writes
clustered_<n>.json / random_<n>.json index files (n: the size reached with whole clusters) and a
manifest.json to --out_dir (default: where data.train_subset looks, <data_dir>/subsets/<task>).
Train on one with --config.data.train_subset=clustered_<n>. See jax_rlvr/jobs/diversity_subsets.py.
scripts/diversity_subsets.py runs `main`; the sweep runs this module.
"""

from absl import app, flags, logging

from jax_rlvr import config_files

_CONFIG = config_files.DEFINE_config_file("config")
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "The run's directory: its data (unless data.data_dir) and checkpoints."
)
_K = flags.DEFINE_integer("k", 1000, "Number of K-means clusters (the paper: 1000).")
_SIZES = flags.DEFINE_list("sizes", None, "Requested subset sizes, e.g. 616,2000,10001.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of K-means and of the random subsets.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Where to write; default: data.train_subset's.")
_FROM_CHECKPOINT = flags.DEFINE_bool(
  "from_checkpoint", False, "Embed with the run's latest checkpoint instead of the config's model."
)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Prompts per embedding forward pass.")
flags.mark_flags_as_required(["config", "workdir", "sizes"])


def main(argv):
  del argv
  from jax_rlvr.jobs import diversity_subsets

  logging.set_verbosity(logging.WARNING)

  sizes = diversity_subsets.subsets_for_run(
    _CONFIG.value,
    _WORKDIR.value,
    k=_K.value,
    sizes=[int(s) for s in _SIZES.value],
    seed=_SEED.value,
    subset_dir=_OUT_DIR.value,
    from_checkpoint=_FROM_CHECKPOINT.value,
    batch_size=_BATCH_SIZE.value,
  )
  for name, size in sizes.items():
    print(f"{name}: {size} prompts")


if __name__ == "__main__":
  app.run(main)
