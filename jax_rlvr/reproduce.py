"""Reproduce the paper's figures and main table: run the sweeps a figure needs, then draw it.

Runs live in <outdir>/runs/<run name>/ (one workdir each, trained by scripts/train.py in a
subprocess so several run at once); a run whose workdir holds a summary.json of a finished run is
skipped, so an interrupted reproduction resumes (a half-finished run resumes from its checkpoint).

Toy scale: all runs share one supervised warm-up, trained once in <outdir>/runs/_warmup (the grpo
config with num_steps = 0); each run starts from a copy of its checkpoint, metrics and first eval,
provided the run's warm-up-relevant config (model, tokenizer, seed, data, warm-up) matches. All runs
share one prepared data directory, <outdir>/data. The full scale has no warm-up.

Outputs in <outdir>: <figure>.png per figure (plus entropy_vs_diversity.json with the
correlations), results.md / results.csv (the main table), summary.json
({run: {"entropy", "accuracy", "avg@k", "pass@k"}} for every run present).
"""

from __future__ import annotations

import concurrent.futures
import csv
import importlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jax_rlvr import metric_writer  # noqa: E402
from jax_rlvr.metrics import correlations  # noqa: E402
from jax_rlvr.plotting import ema  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMA = 0.6  # the paper's smoothing of reported entropy
# configs/paper/<module>.py for each sweep.
MODULES = (
  "grpo",
  "clipping",
  "offpolicy",
  "data_diversity",
  "entropy_bonus",
  "adaptive_entropy",
  "clip_cov",
  "kl_cov",
  "entropy_adv",
  "rand_pos_clip",
  "adv_sign",
  "pos_adv_reweight",
)
# Runs with the same config as another: they read that run's workdir instead of training again.
ALIASES = {"offpolicy_n1": "grpo"}
_METHODS = [
  "grpo",
  "clip_higher",
  "ent_bonus_0.001",
  "ent_bonus_0.002",
  "ent_bonus_-0.001",
  "ada_ent_reg_0.2",
  "ada_ent_reg_init",
  "clip_cov",
  "kl_cov",
  "entropy_adv",
  "rand_pos_clip",
  "adv_nonneg_only",
  "adv_nonpos_only",
  "pos_adv_stage",
  "pos_adv_epoch",
  "pos_adv_entropy_guided",
]
# The clipping runs take N = 4 steps per rollout (configs/paper/clipping.py): GRPO at N = 4 is their
# reference.
_CLIPPING = ["offpolicy_n4", "clip_higher", "clip_lower", "clip_tighter", "clip_free"]
_OFFPOLICY = ["offpolicy_n1", "offpolicy_n2", "offpolicy_n4"]
FIGURES = {
  "clipping": _CLIPPING,
  "offpolicy": _OFFPOLICY,
  "diversity": None,  # the data_diversity sweep of the scale
  "entropy_vs_diversity": list(
    dict.fromkeys(["grpo", *_CLIPPING, *_OFFPOLICY[1:], "adv_nonneg_only", "adv_nonpos_only"])
  ),
  "calibration": ["grpo", "clip_higher", "adv_nonneg_only", "adv_nonpos_only"],
  "prompt_entropy": ["grpo", "clip_higher"],
  # The entropy-control methods (the one-sign ablations are in calibration and the table).
  "methods": [n for n in _METHODS if not n.startswith("adv_")],
  "table": _METHODS + ["clip_lower", "clip_tighter", "clip_free", "offpolicy_n2", "offpolicy_n4"],
}
# The real scale (SmolLM2-135M-Instruct on this CPU, ~25 min a run) runs the paper's central
# directions only: GRPO collapse, the one-sign ablations, Clip-Higher at N = 4, and the two
# controllers that hold entropy (δ = the starting entropy).
REAL_FIGURES = {
  "signs": ["grpo", "adv_nonneg_only", "adv_nonpos_only"],
  "clipping": ["offpolicy_n4", "clip_higher"],
  "methods": ["grpo", "ada_ent_reg_init", "pos_adv_entropy_guided"],
}
REAL_FIGURES["table"] = list(dict.fromkeys(n for runs in REAL_FIGURES.values() for n in runs))
# Config sections a run's warm-up depends on (must match to share the warm-up).
_WARMUP_KEYS = ("seed", "model", "tokenizer", "data", "warmup", "mesh")


def sweeps(scale: str) -> dict[str, tuple[str, dict]]:
  """{run name: (config module, overrides)} over all configs/paper sweeps."""
  out = {}
  for module in MODULES:
    for name, overrides in _module(module).sweep(scale).items():
      out[name] = (module, overrides)
  return out


def _module(name: str):
  if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
  return importlib.import_module(f"configs.paper.{name}")


def figures_of(scale: str) -> dict:
  """{figure: run names} drawn at `scale` (the real scale has a smaller set)."""
  return REAL_FIGURES if scale == "real" else FIGURES


def figure_runs(figure: str, scale: str) -> list[str]:
  figures = figures_of(scale)
  if figure not in figures:
    raise ValueError(
      f"Unknown figure {figure!r} at scale {scale!r}; choose one of {sorted(figures)} or all."
    )
  if figure == "diversity":
    return list(_module("data_diversity").sweep(scale))
  return list(figures[figure])


def run_config(name: str, scale: str, smoke: bool):
  module, _ = sweeps(scale)[name]
  return _module(module).get_config(f"{scale},{'smoke,' if smoke else ''}{name}")


def is_complete(workdir: str) -> bool:
  path = os.path.join(workdir, "summary.json")
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return not json.load(f).get("stopped_early", False)


class Reproduction:
  """The runs and figures of one --outdir at one scale."""

  def __init__(
    self,
    outdir: str,
    scale: str,
    *,
    smoke: bool = False,
    jobs: int = 2,
    overrides: dict[str, str] | None = None,
    log=print,
  ):
    """`overrides`: {dotted config field: Python value} applied to every run of this outdir (e.g.
    a learning rate for a whole sweep), after the runs' own overrides."""
    self.outdir, self.scale, self.smoke, self.jobs = outdir, scale, smoke, jobs
    self.overrides = dict(overrides or {})
    self._log, self._log_lock = log, threading.Lock()
    self.runs_dir = os.path.join(outdir, "runs")
    os.makedirs(self.runs_dir, exist_ok=True)
    self.data_dir = os.path.join(outdir, "data")

  def subprocess_env(self) -> dict[str, str]:
    """The current environment, plus a compilation cache shared by the outdir's runs (unless one
    is set): they compile the same sampler and mostly the same update, and later runs load them
    (toy update: 3.8 s to compile, 0.9 s from the cache)."""
    cache = os.path.join(self.outdir, "jax_cache")
    return {"JAX_COMPILATION_CACHE_DIR": cache, **os.environ}

  def log(self, message: str):
    with self._log_lock:
      self._log(message)

  def workdir(self, name: str) -> str:
    return os.path.join(self.runs_dir, ALIASES.get(name, name))

  # -- training ----------------------------------------------------------------------------------

  def _train(self, name: str, config_module: str, run_arg: str, overrides: dict[str, str]):
    workdir = self.workdir(name)
    os.makedirs(workdir, exist_ok=True)
    cmd = [
      sys.executable,
      os.path.join(ROOT, "scripts", "train.py"),
      f"--config={os.path.join(ROOT, 'configs', 'paper', config_module + '.py')}:{run_arg}",
      f"--workdir={workdir}",
      *[f"--config.{k}={v}" for k, v in overrides.items()],
    ]
    t0 = time.time()
    self.log(f"train {name}: {' '.join(cmd[2:])}")
    with open(os.path.join(workdir, "train.log"), "a") as logf:
      rc = subprocess.call(
        cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT, env=self.subprocess_env()
      )
    if rc != 0:
      raise RuntimeError(f"Run {name} failed (exit {rc}); see {workdir}/train.log.")
    self.log(f"done {name} in {time.time() - t0:.0f} s")

  def run_config(self, name: str):
    """The config `name` trains with in this outdir (before the per-run paths)."""
    config = run_config(name, self.scale, self.smoke)
    return _module("base").apply_overrides(config, self.overrides, self.scale)

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
      arg = f"{self.scale},{'smoke,' if self.smoke else ''}grpo"
      self._train("_warmup", "grpo", arg, {**self._common_overrides("_warmup"), "num_steps": 0})
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
    arg = f"{self.scale},{'smoke,' if self.smoke else ''}grpo"
    self._train("_initial", "grpo", arg, {**self._common_overrides("_initial"), "num_steps": 0})

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
    module = _module("data_diversity")
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
        os.path.join(ROOT, "scripts", "diversity_subsets.py"),
        f"--config={os.path.join(ROOT, 'configs', 'paper', 'grpo.py')}:{self.scale},grpo",
        f"--workdir={workdir}",
        f"--k={module.K[self.scale]}",
        f"--sizes={','.join(str(s) for s in sizes)}",
        f"--out_dir={subset_dir}",
      ]
      if warmup_config is not None:
        cmd += ["--from_checkpoint", f"--config.data.data_dir={self.data_dir}"]
      self.log("subsets: " + " ".join(cmd[2:]))
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
    table = sweeps(self.scale)
    names = list(dict.fromkeys(ALIASES.get(n, n) for n in names))
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
      if name in self._initial_entropy_runs(module):
        delta = self.initial_entropy()
        if delta is not None:
          overrides["rl.entropy_target"] = f"{delta:.4f}"
      self._seed_from_warmup(name, self.run_config(name), warmup_config)
      arg = f"{self.scale},{'smoke,' if self.smoke else ''}{name}"
      jobs.append((name, module, arg, overrides))
    with concurrent.futures.ThreadPoolExecutor(max(self.jobs, 1)) as pool:
      futures = [pool.submit(self._train, *job) for job in jobs]
      for future in futures:
        future.result()

  def _initial_entropy_runs(self, module: str) -> tuple[str, ...]:
    return getattr(_module(module), "INITIAL_ENTROPY_RUNS", {}).get(self.scale, ())

  # -- reading runs ------------------------------------------------------------------------------

  def rl_records(self, name: str) -> list[dict]:
    path = os.path.join(self.workdir(name), "metrics.jsonl")
    return [r for r in metric_writer.read_jsonl(path) if r.get("phase") == "rl"]

  def evals(self, name: str) -> list[dict]:
    return metric_writer.read_jsonl(os.path.join(self.workdir(name), "eval.jsonl"))

  def present(self, names) -> list[str]:
    return [n for n in names if is_complete(self.workdir(n))]

  def run_summary(self, name: str) -> dict:
    """Final EMA-0.6 entropy and training accuracy, and avg@k / pass@k of the final eval."""
    rl, evals = self.rl_records(name), self.evals(name)
    out = {
      "entropy": ema([r["entropy"] for r in rl], EMA)[-1] if rl else None,
      "accuracy": ema([r["accuracy"] for r in rl], EMA)[-1] if rl else None,
    }
    if evals:
      last = evals[-1]
      avg = next(k for k in last if k.startswith("avg@"))
      k = avg.split("@")[1]
      out.update({"avg@k": last[avg], "pass@k": last.get(f"pass@{k}"), "k": int(k)})
    target = self.entropy_target(name)
    if target is not None:
      out["entropy_target"] = target
    return out

  def write_summary(self) -> dict:
    all_names = list(sweeps(self.scale)) + list(ALIASES)
    summary = {n: self.run_summary(n) for n in all_names if is_complete(self.workdir(n))}
    with open(os.path.join(self.outdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2)
    return summary

  def write_table(self, names: list[str]) -> tuple[str, str]:
    """results.md and results.csv: avg@k, pass@k and final EMA entropy per method."""
    rows = []
    for name in self.present(names):
      s = self.run_summary(name)
      rows.append([name, s.get("avg@k"), s.get("pass@k"), s["entropy"]])
    k = self.run_summary(rows[0][0]).get("k", "k") if rows else "k"
    header = ["method", f"avg@{k}", f"pass@{k}", f"final entropy (EMA {EMA})"]
    fmt = lambda v: "" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))
    md_path = os.path.join(self.outdir, "results.md")
    with open(md_path, "w") as f:
      f.write("| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
      for row in rows:
        f.write("| " + " | ".join(fmt(v) for v in row) + " |\n")
    csv_path = os.path.join(self.outdir, "results.csv")
    with open(csv_path, "w", newline="") as f:
      writer = csv.writer(f)
      writer.writerow(header)
      writer.writerows([[fmt(v) for v in row] for row in rows])
    return md_path, csv_path

  # -- figures -----------------------------------------------------------------------------------

  def _save(self, fig, figure: str) -> str:
    path = os.path.join(self.outdir, f"{figure}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

  def entropy_target(self, name: str) -> float | None:
    """δ of a run whose controller steers entropy (entropy-guided λ, adaptive bonus), else None."""
    with open(os.path.join(self.workdir(name), "config.json")) as f:
      rl = json.load(f)["rl"]
    steered = (
      rl["lambda_schedule"] in ("entropy_guided", "pi") or rl["method"] == "adaptive_entropy"
    )
    return rl["entropy_target"] if steered else None

  def plot_curves(self, figure: str, names: list[str]) -> str:
    """Entropy (EMA 0.6; dashed: a controller's target δ), training reward, eval avg@k and pass@k
    against GRPO steps; the methods figure adds λ, the weight of tokens with Â > 0."""
    with_lambda = figure == "methods"
    fig, axes = plt.subplots(1, 5 if with_lambda else 4, figsize=(21 if with_lambda else 17, 3.6))
    for i, name in enumerate(self.present(names)):
      rl, evals = self.rl_records(name), self.evals(name)
      steps = [r["rl_step"] for r in rl]
      color = f"C{i % 10}"
      axes[0].plot(steps, ema([r["entropy"] for r in rl], EMA), color=color, label=name)
      target = self.entropy_target(name)
      if target is not None:
        axes[0].axhline(target, color=color, ls="--", lw=0.8)
      axes[1].plot(steps, ema([r["reward_mean"] for r in rl], EMA), color=color)
      if with_lambda:
        axes[4].plot(steps, [r["pos_weight"] for r in rl], color=color)
        axes[4].set_title("λ (weight of tokens with Â > 0)")
      if evals:
        avg = next(k for k in evals[0] if k.startswith("avg@"))
        pk = "pass@" + avg.split("@")[1]
        es = [e["rl_step"] for e in evals]
        axes[2].plot(es, [e[avg] for e in evals], "o-", color=color, ms=3)
        axes[3].plot(es, [e.get(pk) for e in evals], "o-", color=color, ms=3)
        axes[2].set_title(f"eval {avg}")
        axes[3].set_title(f"eval {pk}")
    axes[0].set_title(f"token entropy (EMA {EMA})")
    axes[1].set_title(f"training reward (EMA {EMA})")
    for ax in axes:
      ax.set_xlabel("GRPO step")
      ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(figure)
    return self._save(fig, figure)

  def plot_entropy_vs_diversity(self, names: list[str]) -> str:
    """Every eval of every run: response entropy against diversity metrics, with correlations.
    The runs' first eval (RL step 0, the shared starting policy) is one point, counted once."""
    records = [dict(e, run=n) for n in self.present(names) for e in self.evals(n)]
    first = [r for r in records if r.get("rl_step") == 0][:1]
    records = first + [r for r in records if r.get("rl_step") != 0]
    ys = ["distinct_1", "distinct_4", "self_bleu", "unique_answer_rate", "ece"]
    ys += sorted({k for r in records for k in r if k.startswith(("avg@", "pass@"))})
    corr = correlations(records, "entropy", ys)
    strict = {
      y: {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in c.items()}
      for y, c in corr.items()
    }
    with open(os.path.join(self.outdir, "entropy_vs_diversity.json"), "w") as f:
      json.dump(strict, f, indent=2)
    panels = ys[:4]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for ax, y in zip(axes, panels, strict=True):
      for i, name in enumerate(self.present(names)):
        pts = [(r["entropy"], r.get(y)) for r in records if r["run"] == name]
        pts = [p for p in pts if p[1] is not None]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=12, color=f"C{i % 10}", label=name)
      c = corr[y]
      ax.set_title(
        f"{y}: Spearman {c['spearman']:.2f}, Pearson {c['pearson']:.2f} (n={c['n']})", fontsize=8
      )
      ax.set_xlabel("response entropy (eval)")
      ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    return self._save(fig, "entropy_vs_diversity")

  def plot_calibration(self, names: list[str]) -> str:
    """Reliability diagrams of each run's final eval, and ECE against entropy over evals."""
    present = self.present(names)
    fig, axes = plt.subplots(1, len(present) + 1, figsize=(3.6 * (len(present) + 1), 3.6))
    axes = np.atleast_1d(axes)
    for i, name in enumerate(present):
      evals = self.evals(name)
      last, ax = evals[-1], axes[i]
      conf = np.array([np.nan if v is None else v for v in last["reliability_confidence"]])
      acc = np.array([np.nan if v is None else v for v in last["reliability_accuracy"]])
      bins = len(conf)
      centers = (np.arange(bins) + 0.5) / bins
      used = np.isfinite(acc)
      ax.bar(centers[used], acc[used], width=1 / bins, edgecolor="black", label="accuracy")
      ax.plot(conf[used], acc[used], "o", color="C3", ms=3, label="(mean conf, acc)")
      ax.plot([0, 1], [0, 1], "--", color="gray")
      ax.set_xlim(0, 1)
      ax.set_ylim(0, 1)
      ax.set_title(f"{name}\nECE {last['ece']:.3f}, Brier {last['brier']:.3f}", fontsize=8)
      ax.set_xlabel("confidence (exp mean log-prob)")
      evals_xy = [(e["entropy"], e["ece"]) for e in evals if e.get("ece") is not None]
      axes[-1].plot(*zip(*evals_xy, strict=True), "o-", ms=3, label=name, color=f"C{i % 10}")
    axes[0].legend(fontsize=6)
    axes[-1].set_xlabel("response entropy (eval)")
    axes[-1].set_ylabel("ECE")
    axes[-1].set_title("ECE vs entropy over training", fontsize=8)
    axes[-1].legend(fontsize=6)
    return self._save(fig, "calibration")

  def plot_prompt_entropy(self, names: list[str]) -> str:
    """Prompt entropy in-domain (solid) and out-of-domain (dashed) against GRPO steps."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, name in enumerate(self.present(names)):
      evals = self.evals(name)
      steps = [e["rl_step"] for e in evals]
      for key, style in (("prompt_entropy_id", "o-"), ("prompt_entropy_ood", "s--")):
        if any(e.get(key) is not None for e in evals):
          label = f"{name} ({'in' if key.endswith('id') else 'out-of'}-domain)"
          ax.plot(steps, [e.get(key) for e in evals], style, color=f"C{i % 10}", ms=3, label=label)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean next-token entropy over prompts")
    ax.set_title("prompt entropy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return self._save(fig, "prompt_entropy")

  def draw(self, figure: str) -> list[str]:
    names = figure_runs(figure, self.scale)
    if figure == "entropy_vs_diversity":
      paths = [self.plot_entropy_vs_diversity(names)]
    elif figure == "calibration":
      paths = [self.plot_calibration(names)]
    elif figure == "prompt_entropy":
      paths = [self.plot_prompt_entropy(names)]
    elif figure == "table":
      paths = list(self.write_table(names))
    else:
      paths = [self.plot_curves(figure, names)]
    return paths


def reproduce(
  figures: list[str],
  scale: str,
  outdir: str,
  *,
  runs=(),
  smoke=False,
  jobs=2,
  overrides=None,
  log=print,
):
  """Runs what `figures` need and the named `runs` (all runs first, so `jobs` processes stay
  busy), then draws the figures; writes the main table and summary.json from every run present.
  Returns the written paths."""
  rep = Reproduction(outdir, scale, smoke=smoke, jobs=jobs, overrides=overrides, log=log)
  names = [n for f in figures for n in figure_runs(f, scale)] + list(runs)
  rep.ensure_runs(names)
  paths = []
  for figure in figures:
    paths += rep.draw(figure)
  if "table" not in figures:
    paths += rep.write_table(figure_runs("table", scale))
  rep.write_summary()
  paths.append(os.path.join(outdir, "summary.json"))
  for path in paths:
    log(f"wrote {path}")
  return paths
