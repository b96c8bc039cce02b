r"""Fault drill: kills, preemption, a damaged checkpoint, a full disk and a failing grader.

  python scripts/fault_drill.py [--outdir DIR] [--kills 3] [--seed 0] [--drills kill,sigterm,...]
      [--config_file configs/default.py]

Runs the drills of jax_rlvr/fault_drill.py on the smoke config of --config_file (8 fake CPU
devices) and prints one JSON line per drill; exits non-zero when a drill fails. The disk-full drill
needs root (a tmpfs mount) and is skipped otherwise. README "Reliability" gives the last measured
results.
"""

import json
import os
import sys
import tempfile
import time
import traceback

# The drill's runs use 8 fake CPU devices; this process reads their checkpoints, so it needs the
# same devices (set before jax is imported).
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

from absl import app, flags, logging

DRILLS = ("kill", "sigterm", "disk_full", "grader")
_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "default.py")
_CONFIG_FILE = flags.DEFINE_string(
  "config_file", _DEFAULT_CONFIG, "The config file whose smoke config the training drills run."
)
_OUTDIR = flags.DEFINE_string("outdir", None, "Where the drill's runs go (default: a temp dir).")
_KILLS = flags.DEFINE_integer("kills", 3, "SIGKILLs of the kill drill.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the kill drill's random kill points.")
_DRILLS = flags.DEFINE_list("drills", list(DRILLS), f"Which drills, of {DRILLS}.")


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  from jax_rlvr import fault_drill

  outdir = _OUTDIR.value or tempfile.mkdtemp(prefix="fault_drill_")
  runs = {
    "kill": lambda: fault_drill.kill_drill(
      os.path.join(outdir, "killed"),
      os.path.join(outdir, "reference"),
      _CONFIG_FILE.value,
      kills=_KILLS.value,
      seed=_SEED.value,
    ),
    "sigterm": lambda: fault_drill.sigterm_drill(
      os.path.join(outdir, "sigterm"), _CONFIG_FILE.value
    ),
    "disk_full": lambda: fault_drill.disk_full_drill(os.path.join(outdir, "small_disk")),
    "grader": fault_drill.grader_drill,
  }
  failed = 0
  for name in _DRILLS.value:
    if name == "disk_full" and os.geteuid() != 0:
      print(json.dumps({"drill": name, "skipped": "needs root for a tmpfs mount"}), flush=True)
      continue
    start = time.monotonic()
    try:
      result = {"drill": name, "ok": True, **runs[name]()}
    except Exception:  # A failed drill is reported; the others still run.
      failed += 1
      result = {"drill": name, "ok": False, "error": traceback.format_exc()[-2000:]}
    result["wall_s"] = round(time.monotonic() - start, 1)
    print(json.dumps(result), flush=True)
  print(f"{len(_DRILLS.value) - failed} of {len(_DRILLS.value)} drills passed; runs in {outdir}")
  sys.exit(1 if failed else 0)


if __name__ == "__main__":
  app.run(main)
