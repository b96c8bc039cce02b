"""Reproduce the paper's figures and main table: train the runs a figure needs, then draw it.

The figure -> runs table is `paper_dir`/figures.py (a checkout's configs/paper/, read by path), the
runner jax_rlvr/jobs/sweep.py (layout of <outdir>, shared warm-up, resuming), the figures and tables
jax_rlvr/jobs/results.py.
"""

from __future__ import annotations

import os

from jax_rlvr.jobs import results, sweep


def reproduce(
  figure_names: list[str],
  scale: str,
  outdir: str,
  *,
  paper_dir: str,
  runs=(),
  smoke=False,
  jobs=2,
  overrides=None,
  log=print,
):
  """Runs what the figures need and the named `runs` (all runs first, so `jobs` processes stay
  busy), then draws the figures; writes the main table and summary.json from every run present.
  `paper_dir` holds the paper's config files. Returns the written paths."""
  runner = sweep.Sweep(
    outdir, scale, paper_dir=paper_dir, smoke=smoke, jobs=jobs, overrides=overrides, log=log
  )
  figures = runner.figures
  names = [n for f in figure_names for n in figures.figure_runs(f, scale)] + list(runs)
  runner.ensure_runs(names)
  drawn = results.Results(outdir, scale, paper_dir=paper_dir)
  paths = []
  for figure in figure_names:
    paths += drawn.draw(figure)
  if "table" not in figure_names:
    paths += drawn.write_table(figures.figure_runs("table", scale))
  drawn.write_summary()
  paths.append(os.path.join(outdir, "summary.json"))
  for path in paths:
    log(f"wrote {path}")
  return paths
