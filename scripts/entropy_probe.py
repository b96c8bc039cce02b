r"""Which tokens move the entropy: the entropy probe (jax_rlvr/probe.py) on a run's checkpoint.

  python scripts/entropy_probe.py --workdir DIR [--step S] [--config configs/<exp>.py[:arg]] \
    [--settings "run;N=4;N=4,clip_free"] [--out DIR/probe]

From the checkpoint of global step S (default: the latest; S = warmup.steps is the start of RL),
applies the run's GRPO update to the rollout it sampled next, on all tokens, on positive-Â tokens
only and on negative-Â tokens only, for each setting (probe.COUNTERFACTUALS; default: all), and
prints one JSON line per variant (variant, delta_entropy, delta_entropy_heldout,
delta_entropy_predicted, num_pos_tokens, num_neg_tokens, ...). Writes OUT/probe_step<S>.jsonl and
OUT/probe_step<S>.png. Without --config the run's own DIR/config.json is probed (as by
scripts/eval.py), with the --config.* overrides given.
"""

import json
import os

from absl import app, flags

from jax_rlvr.jobs import run_config

_CONFIG = run_config.define_config_flag()
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the run to probe.")
_STEP = flags.DEFINE_integer("step", None, "Global step of the checkpoint (default: latest).")
_SETTINGS = flags.DEFINE_string(
  "settings", "", "';'-separated names of probe.COUNTERFACTUALS (default: all of them)."
)
_OUT = flags.DEFINE_string("out", None, "Output directory (default: WORKDIR/probe).")
flags.mark_flag_as_required("workdir")


def main(argv):
  del argv
  from jax_rlvr import plotting, probe
  from jax_rlvr.jobs import entropy_probe

  settings = tuple(s for s in _SETTINGS.value.split(";") if s) or tuple(probe.COUNTERFACTUALS)
  records = entropy_probe.probe_checkpoint(_CONFIG.value, _WORKDIR.value, _STEP.value, settings)
  out = _OUT.value or os.path.join(_WORKDIR.value, "probe")
  os.makedirs(out, exist_ok=True)
  step = records[0]["step"]
  with open(os.path.join(out, f"probe_step{step}.jsonl"), "w") as f:
    for record in records:
      line = json.dumps(record)
      print(line)
      f.write(line + "\n")
  run = os.path.basename(os.path.normpath(_WORKDIR.value))
  title = f"{run}: GRPO step {records[0]['rl_step']} (global {step})"
  plotting.plot_probe(records, os.path.join(out, f"probe_step{step}.png"), title)


if __name__ == "__main__":
  app.run(main)
