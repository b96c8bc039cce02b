"""The data-diversity factor: clustered (low-diversity) vs random (high-diversity) train subsets.

K-means on mean-pooled final-layer prompt embeddings (scripts/diversity_subsets.py); a clustered
subset takes whole clusters, largest first, until the requested size; the random subset has the
same size. Run names use the requested size; the subset files use the size reached with whole
clusters (scripts/reproduce.py writes the subsets, then points data.train_subset at them).
  toy:  K = 200 clusters of the 20k arithmetic prompts, embedded by the shared warm-up policy;
        sizes 1000 and 4000.
  full: K = 1000 (the paper), embedded by Qwen2.5-Math-7B; sizes 616, 2000, 10001.
  real: not run (300 distinct questions leave nothing to cluster).

Command: python scripts/reproduce.py --figure diversity --scale toy|full --outdir DIR. Scales,
hardware and wall time: configs/paper/base.py; toy budget: scripts/reproduce.py.
Expected (paper): less diverse (clustered) data gives lower entropy.
"""

from configs.paper import base

K = {"toy": 200, "full": 1000}
SIZES = {"toy": (1000, 4000), "full": (616, 2000, 10001)}


def sweep(scale):
  return {
    f"diversity_{kind}_{size}": {"data.train_subset": f"{kind}_{size}"}
    for size in SIZES.get(scale, ())
    for kind in ("clustered", "random")
  }


def get_config(arg=None):
  return base.experiment_config(sweep, arg)
