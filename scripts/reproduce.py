r"""Reproduce a figure (or all) of the paper: run the sweeps it needs, then draw it.

  python scripts/reproduce.py --figure NAME|all --scale toy|real|real_offpolicy|full --outdir DIR
      [--smoke] [--set field=value ...] [--runs NAME,NAME,...] [--paper_dir configs/paper]

Figures: clipping, offpolicy, diversity, entropy_vs_diversity, calibration, prompt_entropy,
methods, table (the real scale, configs/smollm2.py, and real_offpolicy, the regime screen's
choice at N = 4: signs, clipping, methods, calibration, table). --jobs (2) sets the runs at
once. Runs already complete in DIR/runs/ are skipped, so rerunning resumes. Besides the figure,
every invocation writes DIR/results.md and DIR/results.csv (avg@k, pass@k, final
entropy with EMA 0.6 per method) and DIR/summary.json ({run: entropy, accuracy, avg@k, pass@k}).
--runs trains named runs of configs/paper/*.py (e.g. grpo,adv_nonneg_only) besides or instead of
a figure's. --smoke shrinks every run to a few steps (pipeline check, < 2 min for prompt_entropy;
not for diversity). Configs: configs/paper/*.py (figure -> runs: configs/paper/figures.py), read
by path from --paper_dir (default: this checkout's configs/paper/); library: jax_rlvr/jobs/
(sweep.py trains, results.py draws, reproduce.py does both).

Toy budget, measured on the quiet 2-core CPU with --jobs 2 (docs/results.md): --figure table (the
largest single figure: warm-up + 21 runs of 72 GRPO steps) 20 min 55 s from an empty DIR; adding
the K-means subsets and the 4 diversity runs for --figure all took 234 s more. Warm-up ~100 s,
runs 104-114 s each with two at a time. A figure reuses every run already complete in DIR.
"""

import ast
import os

from absl import app, flags

_FIGURE = flags.DEFINE_string("figure", None, "A figure name or 'all'.")
_SCALE = flags.DEFINE_enum(
  "scale", "toy", ["toy", "real", "real_offpolicy", "full"], "Experiment scale."
)
_OUTDIR = flags.DEFINE_string("outdir", None, "Where runs, figures and tables go.")
_JOBS = flags.DEFINE_integer("jobs", 2, "Training processes at once.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Tiny runs: checks the pipeline end to end.")
_SET = flags.DEFINE_multi_string(
  "set",
  [],
  "field=value: a config override for every run of --outdir, e.g. optim.learning_rate=1e-3.",
)
_RUNS = flags.DEFINE_list("runs", [], "Run names to train besides (or instead of) --figure's.")
_PAPER_DIR = flags.DEFINE_string(
  "paper_dir",
  os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "paper"),
  "The paper's config files: figures.py (figure -> runs), base.py, one file per sweep.",
)
flags.mark_flags_as_required(["outdir"])


def main(argv):
  del argv
  from jax_rlvr.jobs import reproduce, sweep

  if not _FIGURE.value and not _RUNS.value:
    raise app.UsageError("Give --figure NAME|all, --runs NAME,... or both.")
  if _FIGURE.value == "all":
    wanted = list(sweep.load_figures(_PAPER_DIR.value).figures_of(_SCALE.value))
  else:
    wanted = [_FIGURE.value] if _FIGURE.value else []
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
    wanted,
    _SCALE.value,
    _OUTDIR.value,
    paper_dir=_PAPER_DIR.value,
    runs=_RUNS.value,
    smoke=_SMOKE.value,
    jobs=_JOBS.value,
    overrides=overrides,
  )


if __name__ == "__main__":
  app.run(main)
