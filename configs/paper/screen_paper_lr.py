"""The regime screen's candidates at the paper's learning rate (1e-6, its Appendix B) instead of
configs/smollm2.py's 1e-5: does an Â < 0-only update still raise entropy when each step is 10×
smaller? Gate A of the paper-rate study (docs/results.md, "At the paper's learning rate").

Command:  .venv/bin/python scripts/screen.py --candidates configs/paper/screen_paper_lr.py \
            --outdir docs/results/paper_lr/screen
Hardware: 2 CPU cores; 2-4 min a candidate. The first candidate is the paper-regime task
(configs/paper/base.py REAL_OFFPOLICY_CANDIDATE); the other two have open answers (any number),
so pushing a wrong answer down does not push one right answer up.
"""

from configs.paper import base, screen

PAPER_LEARNING_RATE = 1e-6
CANDIDATES = {
  name: screen.CANDIDATES[name]
  for name in (base.REAL_OFFPOLICY_CANDIDATE, "answer_2digit_sums_t1.0", "answer_products_t1.0")
}


def candidate_config(name: str, smoke: bool = False):
  c = screen.candidate_config(name, smoke)
  c.optim.learning_rate = PAPER_LEARNING_RATE
  return c
