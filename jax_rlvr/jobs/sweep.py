"""The sweep runner: trains the runs of configs/paper/ that a reproduction needs, several at once.

The paper's config files are read by path from `paper_dir` (a checkout's configs/paper/): the
figure -> runs table figures.py, the shared scales base.py, one file per sweep. Runs live in
<outdir>/runs/<run name>/ (one workdir each, trained by `python -m jax_rlvr.cli.train` in a
subprocess so several run at once); a run whose workdir holds a summary.json of a finished run is
skipped, so an interrupted reproduction resumes (a half-finished run resumes from its checkpoint).

Toy scale: all runs share one supervised warm-up, trained once in <outdir>/runs/_warmup (the grpo
config with num_steps = 0); each run starts from a copy of its checkpoint, metrics and first eval,
provided the run's warm-up-relevant config (model, tokenizer, seed, data, warm-up) matches. All runs
share one prepared data directory, <outdir>/data. The full scale has no warm-up.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

from jax_rlvr import config_files, metric_writer

# The directory holding this jax_rlvr: the runs import it (PYTHONPATH) and run there.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Config sections a run's warm-up depends on (must match to share the warm-up).
_WARMUP_KEYS = ("seed", "model", "tokenizer", "data", "warmup", "mesh")


def load_figures(paper_dir: str):
  """The figure -> runs table, `paper_dir`/figures.py (its module, loaded by path)."""
  return config_files.load_module(os.path.join(paper_dir, "figures.py"))


def run_workdir(outdir: str, name: str, figures) -> str:
  """<outdir>/runs/<name>, or the workdir of the run `name` is an alias of (in `figures`)."""
  return os.path.join(outdir, "runs", figures.ALIASES.get(name, name))


def is_complete(workdir: str) -> bool:
  path = os.path.join(workdir, "summary.json")
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return not json.load(f).get("stopped_early", False)


class Sweep:
  """Trains the runs of one --outdir at one scale, as the config files in `paper_dir` say."""

  def __init__(
    self,
    outdir: str,
    scale: str,
    *,
    paper_dir: str,
    smoke: bool = False,
    jobs: int = 2,
    overrides: dict[str, str] | None = None,
    log=print,
  ):
    """`overrides`: {dotted config field: Python value} applied to every run of this outdir (e.g.
    a learning rate for a whole sweep), after the runs' own overrides."""
    self.outdir, self.scale, self.smoke, self.jobs = outdir, scale, smoke, jobs
    self.overrides = dict(overrides or {})
    # Absolute: the runs' working directory is ROOT.
    self.paper_dir = os.path.abspath(paper_dir)
    self.figures = load_figures(self.paper_dir)
    self.base = config_files.load_module(os.path.join(self.paper_dir, "base.py"))
    self._log, self._log_lock = log, threading.Lock()
    os.makedirs(os.path.join(outdir, "runs"), exist_ok=True)
    self.data_dir = os.path.join(outdir, "data")

  def subprocess_env(self) -> dict[str, str]:
    """The current environment, plus a compilation cache shared by the outdir's runs (unless one
    is set): they compile the same sampler and mostly the same update, and later runs load them
    (toy update: 3.8 s to compile, 0.9 s from the cache). PYTHONPATH starts with ROOT, so the runs
    train with the code of the sweep that started them (and with its config files, by path)."""
    cache = os.path.join(self.outdir, "jax_cache")
    env = {"JAX_COMPILATION_CACHE_DIR": cache, **os.environ}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    return env

  def log(self, message: str):
    with self._log_lock:
      self._log(message)

  def workdir(self, name: str) -> str:
    return run_workdir(self.outdir, name, self.figures)

  def _run_arg(self, name: str) -> str:
    return self.figures.run_arg(name, self.scale, self.smoke)

  def _config_file(self, module: str) -> str:
    return os.path.join(self.paper_dir, module + ".py")

  def _train(self, name: str, config_module: str, run_arg: str, overrides: dict[str, str]):
    workdir = self.workdir(name)
    os.makedirs(workdir, exist_ok=True)
    cmd = [
      sys.executable,
      "-m",
      "jax_rlvr.cli.train",
      f"--config={self._config_file(config_module)}:{run_arg}",
      f"--workdir={workdir}",
      *[f"--config.{k}={v}" for k, v in overrides.items()],
    ]
    t0 = time.time()
    self.log(f"train {name}: {' '.join(cmd[3:])}")
    with open(os.path.join(workdir, "train.log"), "a") as logf:
      rc = subprocess.call(
        cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT, env=self.subprocess_env()
      )
    if rc != 0:
      raise RuntimeError(f"Run {name} failed (exit {rc}); see {workdir}/train.log.")
    self.log(f"done {name} in {time.time() - t0:.0f} s")

  def run_config(self, name: str):
    """The config `name` trains with in this outdir (before the per-run paths)."""
    config = self.figures.run_config(name, self.scale, self.smoke)
    return self.base.apply_overrides(config, self.overrides, self.scale)

  def _common_overrides(self, name: str) -> dict[str, str]:
    out = {k: str(v) for k, v in self.overrides.items()}
    out["eval.reliability_dir"] = os.path.join(self.workdir(name), "plots")
    if self.scale == "toy":
      out["data.data_dir"] = self.data_dir
    return out

  def _warmup_signature(self, config) -> str:
    d = json.loads(config.to_json_best_effort())
    d["data"].pop("train_subset", None)
    # The RL controllers in the checkpoint are re-made from each run's config when RL starts.
    return json.dumps({k: d.get(k) for k in _WARMUP_KEYS}, sort_keys=True)

  def ensure_warmup(self):
    """Trains the shared warm-up once (toy scale); returns its config, or None without one."""
    config = self.run_config("grpo")
    if config.warmup.steps == 0:
      return None
    workdir = self.workdir("_warmup")
    if is_complete(workdir):
      self.log("skip _warmup (complete)")
    else:
      overrides = {**self._common_overrides("_warmup"), "num_steps": 0}
      self._train("_warmup", "grpo", self._run_arg("grpo"), overrides)
    return config

  def _seed_from_warmup(self, name: str, config, warmup_config):
    """Copies the shared warm-up into a fresh run workdir when the run's warm-up is the same."""
    workdir = self.workdir(name)
    if warmup_config is None or os.path.exists(os.path.join(workdir, "checkpoints")):
      return
    if self._warmup_signature(config) != self._warmup_signature(warmup_config):
      self.log(f"{name}: warm-up config differs from the shared one; it trains its own.")
      return
    src = self.workdir("_warmup")
    os.makedirs(workdir, exist_ok=True)
    shutil.copytree(os.path.join(src, "checkpoints"), os.path.join(workdir, "checkpoints"))
    for fname in ("metrics.jsonl", "eval.jsonl"):
      shutil.copy(os.path.join(src, fname), os.path.join(workdir, fname))
    if os.path.isdir(os.path.join(src, "plots")):
      shutil.copytree(os.path.join(src, "plots"), os.path.join(workdir, "plots"))

  def ensure_initial_eval(self):
    """Without a warm-up: evaluates the starting policy once (<outdir>/runs/_initial, the grpo
    config with num_steps = 0), so that initial_entropy() exists before any run starts."""
    workdir = self.workdir("_initial")
    if is_complete(workdir):
      return
    overrides = {**self._common_overrides("_initial"), "num_steps": 0}
    self._train("_initial", "grpo", self._run_arg("grpo"), overrides)

  def initial_entropy(self) -> float | None:
    """Response entropy of the first eval of the shared warm-up (or of the starting policy, or of
    the grpo run)."""
    for name in ("_warmup", "_initial", "grpo"):
      evals = metric_writer.read_jsonl(os.path.join(self.workdir(name), "eval.jsonl"))
      if evals:
        return float(evals[0]["entropy"])
    return None

  def ensure_subsets(self, names: list[str], warmup_config) -> dict[str, str]:
    """Writes the diversity subsets once; returns {run name: data.train_subset file name}."""
    module = self.figures.experiment("data_diversity")
    wanted = [n for n in names if n.startswith("diversity_")]
    if not wanted:
      return {}
    if self.smoke:
      raise ValueError(
        "The diversity runs have no smoke version (their subsets need 1000s of "
        "prompts); drop --smoke."
      )
    subset_dir = self.subset_dir()
    sizes = module.SIZES[self.scale]
    manifest_path = os.path.join(subset_dir, "manifest.json")
    if not os.path.exists(manifest_path):
      # Embedded by the shared warm-up policy (toy) or the config's base model (full).
      workdir = self.workdir("_warmup" if warmup_config is not None else "_subsets")
      cmd = [
        sys.executable,
        "-m",
        "jax_rlvr.cli.diversity_subsets",
        f"--config={self._config_file('grpo')}:{self.scale},grpo",
        f"--workdir={workdir}",
        f"--k={module.K[self.scale]}",
        f"--sizes={','.join(str(s) for s in sizes)}",
        f"--out_dir={subset_dir}",
      ]
      if warmup_config is not None:
        cmd += ["--from_checkpoint", f"--config.data.data_dir={self.data_dir}"]
      self.log("subsets: " + " ".join(cmd[3:]))
      subprocess.check_call(cmd, cwd=ROOT, env=self.subprocess_env())
    with open(manifest_path) as f:
      cumulative = np.cumsum(json.load(f)["cluster_sizes"])
    out = {}
    for size in sizes:
      reached = int(cumulative[np.searchsorted(cumulative, size, side="right") - 1])
      for kind in ("clustered", "random"):
        out[f"diversity_{kind}_{size}"] = f"{kind}_{reached}"
    return out

  def subset_dir(self) -> str:
    return os.path.join(self.data_dir, "subsets")

  def ensure_runs(self, names: list[str]):
    """Trains every run of `names` that is not complete, `jobs` at a time."""
    table = self.figures.sweeps(self.scale)
    names = list(dict.fromkeys(self.figures.ALIASES.get(n, n) for n in names))
    unknown = [n for n in names if n not in table]
    if unknown:
      raise ValueError(f"No paper config defines the runs {unknown}.")
    todo = []
    for name in names:
      if is_complete(self.workdir(name)):
        self.log(f"skip {name} (complete)")
      else:
        todo.append(name)
    if not todo:
      return
    warmup_config = self.ensure_warmup()
    needs_delta = [n for n in todo if n in self._initial_entropy_runs(table[n][0])]
    if needs_delta and warmup_config is None:
      self.ensure_initial_eval()
    subsets = self.ensure_subsets(todo, warmup_config)
    jobs = []
    for name in todo:
      module, _ = table[name]
      overrides = self._common_overrides(name)
      if name in subsets:
        overrides["data.train_subset"] = subsets[name]
        overrides["data.subset_dir"] = self.subset_dir()
      fraction = self._initial_entropy_runs(module).get(name)
      if fraction is not None:
        start = self.initial_entropy()
        if start is not None:
          overrides["rl.entropy_target"] = f"{fraction * start:.4f}"
      self._seed_from_warmup(name, self.run_config(name), warmup_config)
      jobs.append((name, module, self._run_arg(name), overrides))
    with concurrent.futures.ThreadPoolExecutor(max(self.jobs, 1)) as pool:
      futures = [pool.submit(self._train, *job) for job in jobs]
      for future in futures:
        future.result()

  def _initial_entropy_runs(self, module: str) -> dict[str, float]:
    return self.figures.initial_entropy_runs(module, self.scale)
