"""The paper's figures, main table and summary, drawn from the run workdirs of a reproduction.

Reads <outdir>/runs/<run>/{metrics,eval}.jsonl and config.json (as jax_rlvr/jobs/sweep.py lays them
out) and the figure -> runs table `paper_dir`/figures.py; never trains. Writes in <outdir>:
<figure>.png per figure (plus entropy_vs_diversity.json with the correlations), results.md /
results.csv (the main table), summary.json ({run: {"entropy", "accuracy", "avg@k", "pass@k"}} for
every run present).
"""

from __future__ import annotations

import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jax_rlvr import config_files, metric_writer  # noqa: E402
from jax_rlvr.jobs import sweep  # noqa: E402
from jax_rlvr.metrics import correlations  # noqa: E402
from jax_rlvr.plotting import ema  # noqa: E402

EMA = 0.6  # the paper's smoothing of reported entropy


class Results:
  """The finished runs of one --outdir at one scale, as figures and tables; `paper_dir` holds the
  paper's config files (a checkout's configs/paper/)."""

  def __init__(self, outdir: str, scale: str, *, paper_dir: str):
    self.outdir, self.scale = outdir, scale
    self.figures = sweep.load_figures(paper_dir)

  def workdir(self, name: str) -> str:
    return sweep.run_workdir(self.outdir, name, self.figures)

  def rl_records(self, name: str) -> list[dict]:
    return metric_writer.read_rl_records(self.workdir(name))

  def evals(self, name: str) -> list[dict]:
    return metric_writer.read_jsonl(os.path.join(self.workdir(name), "eval.jsonl"))

  def present(self, names) -> list[str]:
    return [n for n in names if sweep.is_complete(self.workdir(n))]

  def entropy_target(self, name: str) -> float | None:
    """δ of a run whose controller steers entropy (entropy-guided λ, adaptive bonus), else None."""
    rl = config_files.load_run_config(self.workdir(name)).rl
    steered = rl.pos_weight_schedule in ("entropy_guided", "pi") or rl.method == "adaptive_entropy"
    return rl.entropy_target if steered else None

  def run_summary(self, name: str) -> dict:
    """Final EMA-0.6 entropy and training accuracy, avg@k / pass@k of the final eval, the mean
    fractions of response tokens clipped at the lower and upper bound over the run, and for a
    controller's run its δ and the share of the last 10 steps within ±0.05 of it."""
    rl, evals = self.rl_records(name), self.evals(name)
    mean = lambda key: float(np.mean([r[key] for r in rl])) if rl and key in rl[0] else None
    out = {
      "entropy": ema([r["entropy"] for r in rl], EMA)[-1] if rl else None,
      "accuracy": ema([r["accuracy"] for r in rl], EMA)[-1] if rl else None,
      "clip_frac_low": mean("clip_frac_low"),
      "clip_frac_high": mean("clip_frac_high"),
    }
    if evals:
      last = evals[-1]
      avg = next(k for k in last if k.startswith("avg@"))
      k = avg.split("@")[1]
      out.update({"avg@k": last[avg], "pass@k": last.get(f"pass@{k}"), "k": int(k)})
    target = self.entropy_target(name)
    if target is not None:
      out["entropy_target"] = target
      # Does the controller hold δ? Steps of the last 10 with entropy within ±0.05 of it.
      last = [r["entropy"] for r in rl[-10:]]
      out["near_target_last10"] = sum(abs(h - target) <= 0.05 for h in last) / max(len(last), 1)
    return out

  def write_summary(self) -> dict:
    all_names = list(self.figures.sweeps(self.scale)) + list(self.figures.ALIASES)
    summary = {n: self.run_summary(n) for n in all_names if sweep.is_complete(self.workdir(n))}
    with open(os.path.join(self.outdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2)
    return summary

  def write_table(self, names: list[str]) -> tuple[str, str]:
    """results.md and results.csv: avg@k, pass@k and final EMA entropy per method."""
    rows = []
    for name in self.present(names):
      s = self.run_summary(name)
      clipped = [s["clip_frac_low"], s["clip_frac_high"]]
      rows.append([name, s.get("avg@k"), s.get("pass@k"), s["entropy"], *clipped])
    k = self.run_summary(rows[0][0]).get("k", "k") if rows else "k"
    header = ["method", f"avg@{k}", f"pass@{k}", f"final entropy (EMA {EMA})"]
    header += ["clipped low", "clipped high"]
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

  def _save(self, fig, figure: str) -> str:
    path = os.path.join(self.outdir, f"{figure}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

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
    """Draws `figure` (or writes the table) from the runs present; returns the written paths."""
    names = self.figures.figure_runs(figure, self.scale)
    if figure == "entropy_vs_diversity":
      return [self.plot_entropy_vs_diversity(names)]
    if figure == "calibration":
      return [self.plot_calibration(names)]
    if figure == "prompt_entropy":
      return [self.plot_prompt_entropy(names)]
    if figure == "table":
      return list(self.write_table(names))
    return [self.plot_curves(figure, names)]
