r"""Reproduce a figure (or all) of the paper: run the sweeps it needs, then draw it.

  python scripts/reproduce.py --figure NAME|all --scale toy|full --outdir DIR [--jobs 2] [--smoke]
      [--set field=value ...]

Figures: clipping, offpolicy, diversity, entropy_vs_diversity, calibration, prompt_entropy,
methods, table. Runs already complete in DIR/runs/ are skipped, so rerunning resumes. Besides the
figure, every invocation writes DIR/results.md and DIR/results.csv (avg@k, pass@k, final entropy
with EMA 0.6 per method) and DIR/summary.json ({run: entropy, accuracy, avg@k, pass@k}).
--smoke shrinks every run to a few steps (pipeline check, < 2 min for prompt_entropy; not for
diversity). Configs: configs/paper/*.py; library: jax_rlvr/reproduce.py.

Toy budget (--figure all --scale toy, --jobs 2 on a 2-core CPU, target < 90 min):
  runs: grpo (= offpolicy_n1), clip_higher/lower/tighter/free, offpolicy_n2/n4, adv_nonneg_only,
  adv_nonpos_only, ent_bonus × 3, ada_ent_reg × 2, clip_cov, kl_cov, entropy_adv, rand_pos_clip,
  pos_adv × 3, diversity 2 kinds × 2 sizes = 25 runs of 72 GRPO steps (configs/paper/base.py).
  shared warm-up: 500 supervised steps at ~0.2 s + 1 eval + start-up ≈ 2.5 min, once, alone;
  diversity subsets: embedding 20k prompts with the 0.4M policy + K-means (K = 200) ≈ 1 min.
  one run: 72 GRPO steps at 1.05 s alone, ~1.7 s with two processes sharing 2 cores ≈ 122 s,
  + 3 evals (128 prompts × 8 samples + metrics) ≈ 3 × 10 s = 30 s, + start-up / compile ≈ 40 s
  → ≈ 3.2 min per run; offpolicy_n2 / n4 add ~10 % / 30 % (extra gradient steps).
  all: 13 rounds of 2 runs × 3.2 min ≈ 42 min, + ~1 min for n2/n4, + 3.5 min warm-up and subsets
  ≈ 47 min, leaving ~40 min of slack for a loaded machine.
  single figures (fresh DIR): clipping 5 runs ≈ 3 rounds ≈ 12 min; offpolicy 3 runs (n1 = grpo)
  ≈ 9 min; diversity 4 runs ≈ 10 min; calibration 4 runs ≈ 9 min; prompt_entropy 2 runs ≈ 6 min;
  entropy_vs_diversity 8 runs ≈ 16 min; methods 14 runs ≈ 7 rounds ≈ 25 min; table needs 21
  runs (every method) ≈ 11 rounds ≈ 38 min, under 30 only after methods or clipping has run
  into the same DIR (completed runs are reused, not retrained).
Not measured end to end here: the machine was shared while this was written (the arithmetic uses
the measured 1.05 s per GRPO step alone and ~1.6x slow-down for two processes on two cores).
"""

import ast
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

_FIGURE = flags.DEFINE_string("figure", None, "A figure name or 'all'.")
_SCALE = flags.DEFINE_enum("scale", "toy", ["toy", "full"], "Experiment scale.")
_OUTDIR = flags.DEFINE_string("outdir", None, "Where runs, figures and tables go.")
_JOBS = flags.DEFINE_integer("jobs", 2, "Training processes at once.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Tiny runs: checks the pipeline end to end.")
_SET = flags.DEFINE_multi_string(
  "set",
  [],
  "field=value: a config override for every run of --outdir, e.g. optim.learning_rate=1e-3.",
)
flags.mark_flags_as_required(["figure", "outdir"])


def main(argv):
  del argv
  from jax_rlvr import reproduce

  figures = list(reproduce.FIGURES) if _FIGURE.value == "all" else [_FIGURE.value]
  overrides = {}
  for item in _SET.value:
    key, sep, text = item.partition("=")
    if not sep:
      raise app.UsageError(f"--set takes field=value, got {item!r}.")
    try:
      overrides[key] = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      overrides[key] = text  # a plain string, e.g. rl.method=clip_cov
  reproduce.reproduce(
    figures, _SCALE.value, _OUTDIR.value, smoke=_SMOKE.value, jobs=_JOBS.value, overrides=overrides
  )


if __name__ == "__main__":
  app.run(main)
