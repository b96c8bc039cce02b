"""Fault drill: what a run does when it is killed, preempted, finds a damaged checkpoint, fills its
disk, or meets a grader that crashes or hangs. Each drill returns a dict of what it observed and
raises AssertionError when the run did not behave as promised (README, "Reliability").

  kill_drill       SIGKILL at random moments (one of them while a checkpoint is being written),
                   the newest checkpoint damaged before one restart; restarted until done, the run
                   must end with exactly the parameters and metrics of an uninterrupted run.
  sigterm_drill    SIGTERM (a TPU VM preemption): checkpoint of the last step, exit code 0.
  disk_full_drill  a checkpoint save on a full tmpfs (root only): a clear error, and the previous
                   checkpoint still restores.
  grader_drill     a grading worker that dies or hangs mid-batch: that answer scores 0, the batch
                   ends by its deadline, the next batch is graded normally.

scripts/fault_drill.py runs them all; tests/test_faults.py runs them as tests. The training drills
run `python -m jax_rlvr.cli.train` on the smoke config of a config file (`config_file`, e.g. a
checkout's configs/default.py) in subprocesses with 8 fake CPU devices.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np

from jax_rlvr import config_fields, config_files, metric_writer
from jax_rlvr.rewards import grading_pool

# The directory holding this jax_rlvr: the drills' runs import it (PYTHONPATH) and run there.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The smoke config, checkpointing every step so that kills land before, during and after saves.
DRILL_OVERRIDES = {"num_steps": 6, "checkpoint.every": 1, "checkpoint.max_to_keep": 3}


def _smoke_args(config_file: str) -> tuple[str, ...]:
  return (
    "--config",
    f"{os.path.abspath(config_file)}:smoke",
    *(f"--config.{field}={value}" for field, value in DRILL_OVERRIDES.items()),
  )


def drill_config(config_file: str):
  """The config the training drills run (`config_file`:smoke with DRILL_OVERRIDES)."""
  return config_fields.set_fields(config_files.get_config(f"{config_file}:smoke"), DRILL_OVERRIDES)


# Compared between runs: every logged value of every step must be identical.
COMPARED_METRICS = ("sft_loss", "loss", "grad_norm", "reward_mean", "entropy", "approx_kl")


def subprocess_env() -> dict:
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO)
  env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
  return env


def _train_command(workdir: str, config_file: str, extra=()) -> list[str]:
  return [
    sys.executable,
    "-m",
    "jax_rlvr.cli.train",
    *_smoke_args(config_file),
    *extra,
    f"--workdir={workdir}",
  ]


def _start(workdir: str, config_file: str, extra=()) -> subprocess.Popen:
  return subprocess.Popen(
    _train_command(workdir, config_file, extra),
    cwd=REPO,
    env=subprocess_env(),
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )


def train_to_end(
  workdir: str, config_file: str, timeout_s: float = 900
) -> subprocess.CompletedProcess:
  """Runs (or resumes) the smoke run of `config_file` in `workdir` to the end; raises if it
  fails."""
  out = subprocess.run(
    _train_command(workdir, config_file),
    cwd=REPO,
    env=subprocess_env(),
    capture_output=True,
    text=True,
    timeout=timeout_s,
  )
  assert out.returncode == 0, f"training failed:\n{out.stderr[-3000:]}"
  return out


def _logged_steps(workdir: str) -> int:
  return len(metric_writer.read_jsonl(os.path.join(workdir, "metrics.jsonl")))


def _saving(workdir: str) -> bool:
  """Whether a checkpoint is being written now (orbax writes into a temporary directory)."""
  return bool(glob.glob(os.path.join(workdir, "checkpoints", "*tmp*")))


def _kill_when(proc: subprocess.Popen, ready, timeout_s: float, *, rng=None) -> bool:
  """SIGKILLs `proc` when ready() holds (after a random delay of up to 0.5 s when `rng` is given);
  False if it ended or timed out first."""
  end = time.monotonic() + timeout_s
  while time.monotonic() < end and proc.poll() is None:
    if ready():
      if rng is not None:
        time.sleep(rng.uniform(0.0, 0.5))
      proc.kill()
      proc.communicate()
      return True
    time.sleep(0.005)
  if proc.poll() is None:
    proc.kill()
  proc.communicate()
  return False


def _checkpoint_steps(workdir: str) -> list[int]:
  directory = os.path.join(workdir, "checkpoints")
  return sorted(int(d) for d in os.listdir(directory) if d.isdigit())


def damage_latest_checkpoint(workdir: str) -> int:
  """Truncates every array file of the newest checkpoint (as a torn write would); returns its
  step."""
  step = _checkpoint_steps(workdir)[-1]
  directory = os.path.join(workdir, "checkpoints", str(step), "state")
  files = glob.glob(os.path.join(directory, "**", "d", "*"), recursive=True)
  assert files, f"no array files in the checkpoint of step {step}"
  for path in files:
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)
  return step


def final_state(workdir: str) -> tuple[int, list[np.ndarray]]:
  """(step, params and optimiser-state leaves) of the newest readable checkpoint of `workdir`,
  read with the run's own config (this process needs the run's 8 devices)."""
  import jax

  from jax_rlvr import sharding, train_state

  config = config_files.load_run_config(workdir)
  mesh = sharding.make_mesh(config.mesh.shape)
  step, _, state = train_state.restore_state(config, workdir, mesh)
  return step, [
    np.asarray(x) for x in jax.tree.leaves(jax.device_get((state.params, state.opt_state)))
  ]


def assert_same_run(workdir_a: str, workdir_b: str) -> int:
  """Same final state bit for bit and the same logged metrics at every step; returns the step."""
  step_a, leaves_a = final_state(workdir_a)
  step_b, leaves_b = final_state(workdir_b)
  assert step_a == step_b, (step_a, step_b)
  for a, b in zip(leaves_a, leaves_b, strict=True):
    np.testing.assert_array_equal(a, b)
  records_a = metric_writer.read_jsonl(os.path.join(workdir_a, "metrics.jsonl"))
  records_b = metric_writer.read_jsonl(os.path.join(workdir_b, "metrics.jsonl"))
  assert [r["step"] for r in records_a] == [r["step"] for r in records_b]
  for ra, rb in zip(records_a, records_b, strict=True):
    for key in COMPARED_METRICS:
      assert ra.get(key) == rb.get(key), (ra["step"], key, ra.get(key), rb.get(key))
  return step_a


def kill_drill(
  workdir: str, reference: str, config_file: str, *, kills: int = 3, seed: int = 0
) -> dict:
  """SIGKILLs the smoke run of `config_file` `kills` times and restarts it until it finishes.

  The first kill lands while a checkpoint is being written; the others after a random number of
  logged steps plus a random delay. Before the last restart the newest checkpoint is damaged, so
  the run must fall back to an older one with one warning (the damaged one moved aside).
  `reference` holds (or receives) an uninterrupted run of the same config; the result must equal
  it bit for bit.
  """
  rng = random.Random(seed)
  if not os.path.exists(os.path.join(reference, "metrics.jsonl")):
    train_to_end(reference, config_file)
  killed_during_save = 0
  for i in range(kills):
    proc = _start(workdir, config_file)
    if i == 0:
      # Not the first save: older checkpoints must exist for the fallback below.
      saving = lambda: _logged_steps(workdir) >= 3 and _saving(workdir)
      killed_during_save += _kill_when(proc, saving, timeout_s=600)
    else:
      target = _logged_steps(workdir) + rng.randint(1, 3)
      if (
        _kill_when(proc, lambda t=target: _logged_steps(workdir) >= t, timeout_s=600, rng=rng)
        is False
      ):
        break  # The run finished before this kill.
  damaged_step = None
  if len(_checkpoint_steps(workdir)) > 1:
    damaged_step = damage_latest_checkpoint(workdir)
  out = train_to_end(workdir, config_file)
  if damaged_step is not None:
    warnings = [line for line in out.stderr.splitlines() if "cannot be read" in line]
    assert len(warnings) == 1 and f"step {damaged_step}" in warnings[0], out.stderr[-3000:]
    assert os.path.isdir(os.path.join(workdir, "checkpoints_damaged", str(damaged_step)))
  step = assert_same_run(workdir, reference)
  return {
    "kills": kills,
    "killed_during_save": killed_during_save,
    "damaged_step": damaged_step,
    "final_step": step,
    "bit_exact": True,
  }


def sigterm_drill(workdir: str, config_file: str) -> dict:
  """SIGTERM after a few steps of a long run (the smoke run of `config_file`, 200 steps): a
  checkpoint of the last logged step, exit code 0."""
  proc = _start(workdir, config_file, ("--config.num_steps=200",))
  end = time.monotonic() + 600
  while time.monotonic() < end and proc.poll() is None and _logged_steps(workdir) < 6:
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  stdout, stderr = proc.communicate(timeout=600)
  assert proc.returncode == 0, stderr[-3000:]
  assert "Stopped early" in stdout, stdout
  logged = metric_writer.read_jsonl(os.path.join(workdir, "metrics.jsonl"))[-1]["step"]
  assert _checkpoint_steps(workdir)[-1] == logged, (_checkpoint_steps(workdir), logged)
  return {"stopped_at_step": logged, "exit_code": proc.returncode}


def disk_full_drill(mount_dir: str, size_kb: int = 1024) -> dict:
  """Saves checkpoints of a 256 KB state on a `size_kb` tmpfs until the disk is full (root only).

  The failing save must raise an OSError saying the disk is full and naming the intact previous
  step, and that step must still restore exactly.
  """
  import jax
  import jax.numpy as jnp

  from jax_rlvr import checkpointing

  os.makedirs(mount_dir, exist_ok=True)
  subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", mount_dir], check=True)
  try:
    ckpt = checkpointing.Checkpointer(mount_dir, every=1, max_to_keep=100)
    state = {"w": jnp.arange(64 * 1024, dtype=jnp.float32)}
    step, error = 0, None
    while error is None and step < 100:
      try:
        ckpt.save(step + 1, jax.tree.map(lambda x, k=step + 1: x + k, state), {"step": step + 1})
        step += 1
      except OSError as e:
        error = str(e)
    assert error is not None, "the disk never filled"
    assert "disk is full" in error and f"previous checkpoint (step {step}) is intact" in error, (
      error
    )
    restored_step, restored, meta = ckpt.restore_latest(state)
    assert restored_step == step and meta == {"step": step}
    np.testing.assert_array_equal(np.asarray(restored["w"]), np.asarray(state["w"]) + step)
    ckpt.close()
    return {"saved_steps": step, "error": error}
  finally:
    subprocess.run(["umount", "-l", mount_dir], check=False)


def misbehaving_judge(answer: str, gold: str) -> str:
  """A grading judge that dies on "crash", hangs where no signal reaches it on "hang", and
  otherwise compares the strings (module level: worker processes import it)."""
  if answer == "crash":
    os._exit(1)
  if answer == "hang":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(1000)
  return grading_pool.CORRECT if answer == gold else grading_pool.WRONG


def grader_drill() -> dict:
  """A worker that exits and one that hangs (in C, no signal stops it) within one batch."""
  from jax_rlvr.rewards import math as math_rewards

  with math_rewards.MathGrader(num_workers=2, judge=misbehaving_judge) as grader:
    # Workers start (imports) outside any deadline; the first batch waits for them.
    assert grader.grade_batch(["\\boxed{x}"], ["x"], timeout_s=1.0) == [1.0]
    # "x+y" is no plain number, so every answer goes to a worker.
    responses = [f"\\boxed{{{a}}}" for a in ("x+y", "crash", "x+y", "hang", "x-y")]
    golds = ["x+y"] * 5
    deadline_s = 4.0
    start = time.monotonic()
    rewards, stats = grader.grade_batch(
      responses, golds, timeout_s=1.0, deadline_s=deadline_s, return_stats=True
    )
    took = time.monotonic() - start
    assert rewards == [1.0, 0.0, 1.0, 0.0, 0.0], rewards
    assert took < deadline_s + 1.0, took
    assert stats.errors == 1 and stats.timed_out == 1, stats
    # The pool replaced both workers and grades the next batch normally.
    again = grader.grade_batch(["\\boxed{x+y}", "\\boxed{y}"], ["x+y", "x+y"], timeout_s=1.0)
    assert again == [1.0, 0.0], again
    return {"batch_s": round(took, 2), "replaced_workers": grader.pool.workers_replaced}


# Hostile final answers: each stresses one part of extraction or math-verify.
HOSTILE_KINDS = (
  "huge_exponent",  # 10^{10^{10^{k}}}: sympy would evaluate a number with 10^10^k digits
  "power_tower",  # k^{k^{k^{k}}}
  "deep_nesting",  # ((((...)))) just under max_answer_chars
  "megabyte",  # a 1 MB response (extraction must stay linear)
  "unbalanced",  # \boxed{\frac{1}{2  (never closed)
  "frac_bomb",  # \frac nested 150 deep
  "sqrt_bomb",  # \sqrt nested 150 deep
  "huge_factorial",  # (10^{k})!
)


def _hostile(kind: str, k: int) -> str:
  if kind == "huge_exponent":
    return f"\\boxed{{10^{{10^{{10^{{{k}}}}}}}}}"
  if kind == "power_tower":
    return f"\\boxed{{{k}^{{{k}^{{{k}^{{{k}}}}}}}}}"
  if kind == "deep_nesting":
    return "\\boxed{" + "(" * 490 + str(k) + ")" * 490 + "}"
  if kind == "megabyte":
    return "x" * 2**20 + f" so \\boxed{{{k}}}"
  if kind == "unbalanced":
    return f"\\boxed{{\\frac{{{k}}}{{2" + "{" * 1000
  if kind == "frac_bomb":
    return "\\boxed{" + "\\frac{1}{" * 150 + str(k) + "}" * 150 + "}"
  if kind == "sqrt_bomb":
    return "\\boxed{" + "\\sqrt{" * 150 + str(k) + "}" * 150 + "}"
  if kind == "huge_factorial":
    return f"\\boxed{{(10^{{{k}}})!}}"
  raise ValueError(kind)


def load_answers(num: int, hostile_fraction: float, seed: int = 0):
  """(responses, golds, kinds): `num` graded pairs, ordinary ones (a right or wrong integer,
  fraction or expression) and about `hostile_fraction` of hostile ones (HOSTILE_KINDS, gold -1)."""
  rng = random.Random(seed)
  responses, golds, kinds = [], [], []
  for _ in range(num):
    k = rng.randint(2, 10**6)
    if rng.random() < hostile_fraction:
      kind = rng.choice(HOSTILE_KINDS)
      responses.append(_hostile(kind, k))
      golds.append("-1")  # Every hostile value is positive (a \\sqrt bomb is close to 1).
    else:
      kind = rng.choice(("integer", "fraction", "expression"))
      gold = {"integer": str(k), "fraction": f"\\frac{{{k}}}{{7}}", "expression": f"{k}x^2+1"}[kind]
      right = rng.random() < 0.5
      shown = gold if right else gold.replace(str(k), str(k + 1), 1)
      responses.append(f"Adding up the steps gives \\boxed{{{shown}}}.")
      golds.append(gold)
      kind = f"{kind}_{'right' if right else 'wrong'}"
    kinds.append(kind)
  return responses, golds, kinds


def grading_load(
  num: int = 10_000,
  hostile_fraction: float = 0.1,
  batch_size: int = 512,
  timeout_s: float = 5.0,
  seed: int = 0,
) -> dict:
  """Grades `load_answers(num, ...)` in batches of `batch_size` with a MathGrader of 2 workers,
  `timeout_s` per answer and the default batch deadline; reports wall time, peak memory, outcome
  counts and how many answers got another reward than they deserve (ordinary: right 1, wrong 0;
  hostile: 0)."""
  import resource

  from jax_rlvr.rewards import math as math_rewards

  responses, golds, kinds = load_answers(num, hostile_fraction, seed)
  rewards, stats = [], math_rewards.GradeStats()
  start = time.monotonic()
  with math_rewards.MathGrader(num_workers=2) as g:
    for i in range(0, num, batch_size):
      r, s = g.grade_batch(
        responses[i : i + batch_size],
        golds[i : i + batch_size],
        timeout_s=timeout_s,
        return_stats=True,
      )
      rewards += r
      stats += s
  wall_s = time.monotonic() - start
  wrong = [
    (kind, reward)
    for kind, reward in zip(kinds, rewards, strict=True)
    if reward != (1.0 if kind.endswith("_right") else 0.0)
  ]
  # ru_maxrss is in KB on Linux: the parent, and the largest grading worker that has ended.
  peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
  return {
    "answers": num,
    "hostile": sum(k in HOSTILE_KINDS for k in kinds),
    "wall_s": round(wall_s, 1),
    "peak_rss_parent_mb": round(peak_self),
    "peak_rss_worker_mb": round(peak_child),
    "stats": dataclasses.asdict(stats),
    "misgraded": len(wrong),
    "misgraded_examples": wrong[:5],
  }
