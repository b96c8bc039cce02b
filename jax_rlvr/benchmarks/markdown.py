"""The records of one side_by_side.compare run as Markdown (the tables of docs/benchmarks.md):
the comparison with its ratios, sampling against its roofline, compile / warm-up times, versions."""

from __future__ import annotations

from collections.abc import Sequence

from jax_rlvr.benchmarks.jax_side import JAX
from jax_rlvr.benchmarks.torch_side import TORCH, TRANSFORMERS


def _find(records, **match) -> dict | None:
  return next((r for r in records if all(r.get(k) == v for k, v in match.items())), None)


def _cell(record: dict | None, key: str, fmt: str, unit: str = "") -> str:
  if record is None or record.get(key) is None:
    return "—"
  return format(record[key], fmt) + unit


def ratio(ours: dict | None, peer: dict | None) -> float | None:
  """jax_rlvr throughput / the peer's (> 1: jax_rlvr is faster) on the same tokens."""
  if ours is None or peer is None:
    return None
  return ours["tokens_per_s"] / peer["tokens_per_s"]


def markdown_table(records: Sequence[dict]) -> str:
  """The records of one `compare` run as Markdown: the comparison, compile / warm-up, machine."""
  setup = records[0]
  lines = [
    f"Model `{setup['model']}` ({setup['params'] / 1e6:.1f} M parameters, f32, "
    f"{'random weights' if setup['weights'] == 'random' else 'weights ' + setup['weights']}); "
    f"{setup['cpu']}, {setup['cores']} cores; commit {setup['commit']}; {setup['date']}; "
    f"median of {setup['repeats']} timed call(s); ratio = jax_rlvr throughput / peer throughput.",
    "",
    *_comparison(records),
    *_roofline(records),
    "",
    "| measurement | compile (jax_rlvr) / warm-up call (peer), s |",
    "|---|---|",
  ]
  for r in records[1:]:
    what = " ".join(
      str(x) for x in (r["bench"], r.get("work", ""), r["peer"], _shape(r)) if x != ""
    )
    lines.append(f"| {what} | {r.get('compile_s', r.get('warmup_s')):.2f} |")
  versions = ", ".join(f"{k} {setup[k]}" for k in ("jax", "torch", "transformers") if k in setup)
  threads = f"; torch threads {setup['torch_threads']}" if "torch_threads" in setup else ""
  lines += ["", f"Versions: {versions}{threads}.", ""]
  return "\n".join(lines)


def _comparison_row(work: str, ours, peer, key: str, fmt: str, unit: str) -> str:
  r = ratio(ours, peer)
  noise = f"{_cell(ours, 'others_cores_max', '.2f')} / {_cell(peer, 'others_cores_max', '.2f')}"
  flag = any(x is not None and x["contended"] for x in (ours, peer))
  return (
    f"| {work} | {_cell(ours, key, fmt, unit)} | {_cell(peer, key, fmt, unit)} "
    f"| {'—' if r is None else f'{r:.2f}×'} | {_cell(ours, 'pct_peak', '.0f', '%')} "
    f"| {_cell(peer, 'pct_peak', '.0f', '%')} | {noise} | {'yes' if flag else 'no'} |"
  )


def _comparison(records: Sequence[dict]) -> list[str]:
  """The comparison table: sampling and training rows, then the machine's peak and bandwidth."""
  lines = [
    "| work | jax_rlvr | peer | ratio | jax_rlvr % of peak | peer % of peak "
    "| others' CPU, cores (jax_rlvr / peer) | contended |",
    "|---|---|---|---|---|---|---|---|",
  ]
  for ours in (r for r in records if r["bench"] == "sample" and r["peer"] == JAX):
    peer = _find(records, bench="sample", peer=TRANSFORMERS, batch=ours["batch"])
    work = (
      f"sampling vs transformers `generate`, batch {ours['batch']}, "
      f"{ours['new_tokens']} new tokens, T = 1"
    )
    lines.append(_comparison_row(work, ours, peer, "tokens_per_s", ".1f", " tok/s"))
  torch_step = _find(records, bench="train_step", peer=TORCH)
  for work, name in (("grpo_update", "GRPO update"), ("fwd_bwd_adamw", "fwd + bwd + AdamW")):
    ours = _find(records, bench="train_step", peer=JAX, work=work)
    if ours is not None:
      label = f"{name} vs PyTorch fwd + bwd + AdamW, {ours['rows']} × {ours['length']} tokens"
      lines.append(_comparison_row(label, ours, torch_step, "seconds", ".3f", " s"))
  peak = _find(records, bench="matmul_peak")
  if peak is not None:
    lines.append(
      f"| f32 matmul peak ({peak['size']}³, jax) | {peak['gflops']:.1f} GFLOP/s | | | 100% | "
      f"| {_cell(peak, 'others_cores_max', '.2f')} | {'yes' if peak['contended'] else 'no'} |"
    )
  bandwidth = _find(records, bench="read_bandwidth")
  if bandwidth is not None:
    lines.append(
      f"| f32 read bandwidth (sum over {bandwidth['megabytes']} MB, jax) "
      f"| {bandwidth['gb_per_s']:.1f} GB/s | | | | "
      f"| {_cell(bandwidth, 'others_cores_max', '.2f')} "
      f"| {'yes' if bandwidth['contended'] else 'no'} |"
    )
  return lines


def _roofline(records: Sequence[dict]) -> list[str]:
  """Sampling against its roofline (side_by_side.sampling_roofline); nothing without a bandwidth
  record or sampling rows."""
  setup = records[0]
  bandwidth = _find(records, bench="read_bandwidth")
  samples = [r for r in records if r["bench"] == "sample" and r["peer"] == JAX]
  if not samples or bandwidth is None:
    return []
  lines = [
    "",
    "Sampling against its roofline: a decode step reads every f32 weight once (at the measured "
    "bandwidth) and computes 2 · params FLOPs per row (at the measured peak), whichever is "
    "slower.",
    "",
    "| batch | roofline | bound by | jax_rlvr % of roofline | peer % of roofline |",
    "|---|---|---|---|---|",
  ]
  for ours in samples:
    peer = _find(records, bench="sample", peer=TRANSFORMERS, batch=ours["batch"])
    compute_bound = ours["roofline_tokens_per_s"] < (
      ours["batch"] * bandwidth["gb_per_s"] * 1e9 / (4 * setup["params"])
    )
    lines.append(
      f"| {ours['batch']} | {ours['roofline_tokens_per_s']:.1f} tok/s "
      f"| {'matmul peak' if compute_bound else 'weight reads'} "
      f"| {_cell(ours, 'pct_roofline', '.0f', '%')} | {_cell(peer, 'pct_roofline', '.0f', '%')} |"
    )
  return lines


def _shape(record: dict) -> str:
  if record["bench"] == "sample":
    return f"batch {record['batch']}"
  if record["bench"] == "train_step":
    return f"{record['rows']} × {record['length']}"
  if record["bench"] == "read_bandwidth":
    return f"{record['megabytes']} MB"
  return f"{record['size']}³"
