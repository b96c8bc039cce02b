r"""Screen candidate settings at the starting policy: where do negative samples raise entropy?

  python scripts/screen.py --outdir DIR [--candidates configs/paper/screen.py] [--only a,b]
      [--smoke]

For every candidate of the file's CANDIDATES (its `candidate_config(name, smoke)` builds the
config), samples and grades one rollout batch and a held-out one and runs the entropy probe at
N = 1 and N = 4 (jax_rlvr/jobs/screen.py). Appends one JSON line per candidate to
DIR/screen.jsonl as it finishes (rerunning skips those already there), then writes DIR/screen.md
(the table) and DIR/screen.png, and prints the candidate the selection rule chooses.
"""

import os

from absl import app, flags

from jax_rlvr import config_files

_DEFAULT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "paper", "screen.py")
_CANDIDATES = flags.DEFINE_string(
  "candidates", _DEFAULT, "A file with CANDIDATES and candidate_config."
)
_ONLY = flags.DEFINE_list("only", [], "Screen only these candidates (default: all).")
_OUTDIR = flags.DEFINE_string("outdir", None, "Where screen.jsonl, screen.md and screen.png go.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Each candidate at its config's smoke size.")
flags.mark_flag_as_required("outdir")


def main(argv):
  del argv
  from jax_rlvr.jobs import screen

  module = config_files.load_module(_CANDIDATES.value)
  names = _ONLY.value or list(module.CANDIDATES)
  unknown = sorted(set(names) - set(module.CANDIDATES))
  if unknown:
    raise app.UsageError(f"Unknown candidates {unknown}; the file has {sorted(module.CANDIDATES)}.")
  # Every config is built (and so checked) before the first candidate runs.
  candidates = {n: module.candidate_config(n, smoke=_SMOKE.value) for n in names}
  records = screen.screen(candidates, _OUTDIR.value)
  chosen, meets = screen.choose(records)
  verdict = "meets the rule" if meets else "closest (no candidate meets the rule)"
  print(f"chosen: {chosen['candidate']} ({verdict}); table: {_OUTDIR.value}/screen.md")


if __name__ == "__main__":
  app.run(main)
