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


# Per-step plots of several metrics on one axis: (file name, [(metric, label)], y label). `entropy`
# is the one the controllers use and every figure plots (rl_step.update_on_rollout).
_MULTI_LINE_PLOTS = (
  (
    "entropies",
    (
      ("entropy", "trainer, rollout temperature (controllers, figures)"),
      ("entropy_policy", "policy at T = 1, full vocabulary"),
      ("entropy_sampled", "sampled distribution (T, top-k, top-p)"),
    ),
    "token entropy (nats)",
  ),
  (
    "probe",
    (
      ("probe_dH_all", "all tokens"),
      ("probe_dH_pos", "Â > 0 only"),
      ("probe_dH_neg", "Â < 0 only"),
    ),
    "ΔH of one update (rl.probe_every)",
  ),
  (
    "logp_mismatch",
    (("logp_mismatch", "mean |Δ log p|"), ("logp_mismatch_max", "max |Δ log p|")),
    "sampler vs trainer",
  ),
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
  records = metric_writer.read_rl_records(workdir)
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
  paths.append(path)
  for name, lines, ylabel in _MULTI_LINE_PLOTS:
    present = [(key, label) for key, label in lines if any(key in r for r in records)]
    if not present:
      continue
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for i, (key, label) in enumerate(present):
      # Probe metrics exist only on the probed steps.
      xy = [(r["rl_step"], r[key]) for r in records if key in r]
      ax.plot(*zip(*xy, strict=True), ".-", color=f"C{i}", label=label)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(os.path.join(out_dir, f"{name}.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
  return paths


def plot_probe(records: list[dict], path: str, title: str = "") -> str:
  """Bar chart of entropy-probe records (jax_rlvr/probe.py): per setting, the measured ΔH of the
  all / positive-Â / negative-Â updates on the batch and on held-out prompts, and the first-order
  prediction (its own scale: per unit logit step). Returns `path`."""
  settings = list(dict.fromkeys(r["variant"].rsplit("/", 1)[0] for r in records))
  by_name = {r["variant"]: r for r in records}
  panels = [("delta_entropy", "measured ΔH, rollout batch")]
  if "delta_entropy_heldout" in records[0]:
    panels.append(("delta_entropy_heldout", "measured ΔH, held-out prompts"))
  panels.append(("delta_entropy_predicted", "first-order prediction (per unit logit step)"))
  fig, axes = plt.subplots(
    len(panels), 1, figsize=(max(6, 1.1 * len(settings)), 2.6 * len(panels)), squeeze=False
  )
  width = 0.27
  for ax, (key, label) in zip(axes[:, 0], panels, strict=True):
    for i, sign in enumerate(("all", "pos", "neg")):
      values = [by_name.get(f"{s}/{sign}", {}).get(key, float("nan")) for s in settings]
      xs = [j + (i - 1) * width for j in range(len(settings))]
      ax.bar(
        xs,
        values,
        width,
        color=f"C{i}",
        label={"pos": "Â>0 only", "neg": "Â<0 only"}.get(sign, sign),
      )
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(range(len(settings)), settings, fontsize=7)
    ax.set_title(label, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
  axes[0, 0].legend(fontsize=7)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def plot_screen(records: list[dict], path: str, settings=("N=1", "N=4")) -> str:
  """The regime screen (jax_rlvr/jobs/screen.py): per candidate, the held-out ΔH of the Â > 0-only
  and Â < 0-only updates at each probe setting (top), and the mixed-group fraction and the
  fraction of confident Â < 0 tokens (log π + H > 0; bottom). Returns `path`."""
  names = [r["candidate"] for r in records]
  xs = range(len(names))
  fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(7, 0.9 * len(names)), 6.5), sharex=True)
  bars = [(s, sign) for s in settings for sign in ("pos", "neg")]
  width = 0.8 / len(bars)
  for i, (s, sign) in enumerate(bars):
    values = [r["dH_heldout"][f"{s}/{sign}"] for r in records]
    offset = (i - (len(bars) - 1) / 2) * width
    label = f"{s}, {'Â>0' if sign == 'pos' else 'Â<0'} only"
    top.bar([x + offset for x in xs], values, width, color=f"C{i}", label=label)
  top.axhline(0.0, color="k", lw=0.6)
  top.set_ylabel("held-out ΔH (nats)")
  top.set_title("entropy change after one update at the starting policy", fontsize=9)
  top.legend(fontsize=7, ncol=2)
  top.grid(alpha=0.3, axis="y")
  for i, (key, label) in enumerate(
    (("mixed_groups", "mixed groups"), ("confident_neg", "confident Â<0 tokens"))
  ):
    offset = (i - 0.5) * 0.4
    bottom.bar([x + offset for x in xs], [r[key] for r in records], 0.4, label=label)
  bottom.axhline(0.4, color="k", lw=0.6, ls="--")
  bottom.set_ylim(0, 1)
  bottom.set_xticks(list(xs), names, rotation=30, ha="right", fontsize=7)
  bottom.legend(fontsize=7)
  bottom.grid(alpha=0.3, axis="y")
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path
