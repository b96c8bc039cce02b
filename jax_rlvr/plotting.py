"""PNG plots of one run's metrics.jsonl: reward, accuracy, entropy and λ per GRPO step."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from jax_rlvr import metric_writer  # noqa: E402

_PANELS = (
  ("reward_mean", "reward (rollout mean)"),
  ("accuracy", "accuracy"),
  ("entropy", "token entropy (nats)"),
  ("pos_weight", "λ (positive-advantage weight)"),
)


def ema(values, alpha: float):
  """Exponential moving average with smoothing `alpha` (the paper reports EMA 0.6 values)."""
  out, acc = [], None
  for v in values:
    acc = v if acc is None else alpha * acc + (1 - alpha) * v
    out.append(acc)
  return out


def plot_run(workdir: str) -> list[str]:
  """Writes workdir/plots/<metric>.png and workdir/plots/overview.png; returns the paths."""
  records = [
    r
    for r in metric_writer.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    if r.get("phase") == "rl"
  ]
  evals = metric_writer.read_jsonl(os.path.join(workdir, "eval.jsonl"))
  if not records:
    return []
  out_dir = os.path.join(workdir, "plots")
  os.makedirs(out_dir, exist_ok=True)
  steps = [r["rl_step"] for r in records]
  paths = []
  fig_all, axes = plt.subplots(1, len(_PANELS), figsize=(4 * len(_PANELS), 3.2))
  for ax_all, (key, label) in zip(axes, _PANELS, strict=True):
    values = [r.get(key) for r in records]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for a in (ax, ax_all):
      a.plot(steps, values, alpha=0.35, color="C0", label="per step")
      a.plot(steps, ema(values, 0.6), color="C0", label="EMA 0.6")
      if key == "accuracy" and evals:
        k_key = next(k for k in evals[0] if k.startswith("avg@"))
        a.plot(
          [e["rl_step"] for e in evals],
          [e[k_key] for e in evals],
          "o-",
          color="C1",
          label=f"eval {k_key}",
        )
      a.set_xlabel("GRPO step")
      a.set_title(label)
      a.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out_dir, f"{key}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)
  fig_all.tight_layout()
  path = os.path.join(out_dir, "overview.png")
  fig_all.savefig(path, dpi=110)
  plt.close(fig_all)
  return [*paths, path]
