r"""Write the data-diversity subsets (clustered = low diversity, random = high) of a train split.

  python scripts/diversity_subsets.py --config configs/<exp>.py[:arg] --workdir DIR \
    --k 1000 --sizes 616,2000,10001 [--from_checkpoint] [--seed 0] [--out_dir DIR]

Embeds every train prompt with the policy (mean-pooled final hidden states), runs K-means and writes
clustered_<n>.json / random_<n>.json index files (n: the size reached with whole clusters) and a
manifest.json to --out_dir (default: where data.train_subset looks, <data_dir>/subsets/<task>).
Train on one with --config.data.train_subset=clustered_<n>. See jax_rlvr/jobs/diversity_subsets.py;
the command line is jax_rlvr/cli/diversity_subsets.py's.
"""

from absl import app, flags

from jax_rlvr.cli import diversity_subsets

flags.adopt_module_key_flags(diversity_subsets)

if __name__ == "__main__":
  app.run(diversity_subsets.main)
