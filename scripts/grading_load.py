r"""Grading under load: ordinary and hostile answers through the math grader's worker pool.

  nice -n 10 python scripts/grading_load.py [--num 10000] [--hostile_fraction 0.1] \
    [--batch_size 512] [--timeout_s 5.0]

Hostile answers (jax_rlvr/fault_drill.py HOSTILE_KINDS): huge exponents, power towers, deep
nesting, 1 MB responses, unbalanced braces, \frac and \sqrt bombs, huge factorials. Prints one JSON
line: wall time, peak memory (parent and largest worker), outcome counts, misgraded answers.
"""

import json
import sys

from absl import app, flags, logging

_NUM = flags.DEFINE_integer("num", 10_000, "Answers to grade.")
_HOSTILE = flags.DEFINE_float("hostile_fraction", 0.1, "Fraction of hostile answers.")
_BATCH = flags.DEFINE_integer("batch_size", 512, "Answers per grade_batch call.")
_TIMEOUT = flags.DEFINE_float("timeout_s", 5.0, "Per-answer timeout (the training default: 5).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the answer mix.")


def main(argv):
  del argv
  # Each timed-out answer is logged at WARNING by the pool; the summary line is what matters here.
  logging.set_verbosity(logging.ERROR)
  from jax_rlvr import fault_drill

  result = fault_drill.grading_load(
    _NUM.value, _HOSTILE.value, _BATCH.value, timeout_s=_TIMEOUT.value, seed=_SEED.value
  )
  print(json.dumps(result))
  sys.exit(1 if result["misgraded"] else 0)


if __name__ == "__main__":
  app.run(main)
