r"""Train a policy with GRPO (and optional warm-up) as the config says.

  python -m jax_rlvr.cli.train --workdir DIR --config FILE[:arg] [--config.a.b=value ...]

scripts/train.py runs `main` with --config defaulting to the checkout's configs/default.py; the
sweep (jax_rlvr/jobs/sweep.py) and the fault drills (jax_rlvr/fault_drill.py) run this module, one
process per run. Rerunning with the same --workdir resumes from its latest checkpoint.
"""

from absl import app, flags, logging

from jax_rlvr import config_files

_CONFIG = config_files.DEFINE_config_file("config")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
flags.mark_flag_as_required("workdir")
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address",
  None,
  "host:port of process 0 in a multi-process run (else read from "
  "the TPU / Slurm environment when there is one).",
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in a multi-process run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index, 0-based.")


def main(argv):
  del argv
  if _CONFIG.value is None:
    raise app.UsageError("Give --config FILE[:arg].")
  from jax_rlvr import distributed, run_summary, train

  logging.set_verbosity(logging.WARNING)
  distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  summary = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  import jax

  if jax.process_index() == 0:
    print(run_summary.format_summary(summary, _WORKDIR.value))


if __name__ == "__main__":
  app.run(main)
