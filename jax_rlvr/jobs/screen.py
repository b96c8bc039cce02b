"""The regime screen: which task and setting make negative samples raise entropy, before training.

For each candidate setting (a config: task, template, temperature, ...), at the starting policy and
without training, `screen_candidate` samples one rollout batch of the training prompts and one of
the prompts after them (held out from the update), grades both and applies the entropy probe
(jax_rlvr/probe.py) at each probe setting (default N = 1 and N = 4 updates) on all tokens, on
Â > 0 tokens only and on Â < 0 tokens only. One record per candidate holds:

  reward, heldout_reward, mixed_groups (fraction of groups with both right and wrong answers: the
  groups with a learning signal), entropy (the batch's mean token entropy), tokens_s / length_s /
  confident_s for s in pos, neg (probe.sign_token_stats: the fraction of Â < 0 tokens with
  log π + H > 0 is how many errors are confident), pred_s (the first-order ΔH of the Â > 0-only
  and Â < 0-only updates, per unit logit step), and for every probe setting and sign
  dH[<setting>/<sign>] and dH_heldout[<setting>/<sign>] (measured ΔH of the mean token entropy on
  the batch and on the held-out batch).

`choose` applies the selection rule: at least `min_mixed` mixed groups, the Â < 0-only update at
N = 4 raises held-out entropy and the Â > 0-only update lowers it; among those the largest
held-out gap between the two. `screen` runs a table of candidates, skipping those already in
OUTDIR/screen.jsonl (a crash loses at most the candidate in progress), and writes the table and
figure.

Shape letters (as in jax_rlvr/__init__.py): B responses.
"""

from __future__ import annotations

import json
import os
import time

import jax
import numpy as np

from jax_rlvr import config_validation, metric_writer, plotting, probe, train

SETTINGS = ("N=1", "N=4")
SIGNS = ("all", "pos", "neg")


def screen_candidate(name: str, config, workdir: str, settings=SETTINGS) -> dict:
  """The screen's record of one candidate (module docstring); `workdir` gets the candidate's
  prepared data and config.json, no checkpoint."""
  t0 = time.perf_counter()
  trainer = train.Trainer(config, workdir)
  try:
    state = trainer.start_rl(trainer.initial_state)
    batch_size = config.rollout.prompts_per_step * config.rollout.group_size
    named_hps = [
      (f"{setting}/{sign}", probe.variant_hp(trainer.hp, sign, batch_size, **_overrides(setting)))
      for setting in settings
      for sign in SIGNS
    ]
    with jax.set_mesh(trainer.mesh):
      rollout, rewards_B, texts, host = trainer.sample_and_grade(state, 0)
      heldout, heldout_rewards_B, _, heldout_host = trainer.sample_and_grade(state, 1)
      records = trainer.run_probe(state, rollout, rewards_B, named_hps, heldout=heldout)
  finally:
    trainer.checkpointer.close()
  rewards = np.asarray(jax.device_get(rewards_B))
  first = records[0]
  out = {
    "candidate": name,
    "task": config.data.task,
    "template": config.data.template,
    "temperature": config.rollout.temperature,
    "max_new_tokens": config.rollout.max_new_tokens,
    "reward": float(rewards.mean()),
    "heldout_reward": float(np.mean(jax.device_get(heldout_rewards_B))),
    "mixed_groups": host["mixed_groups"],
    "heldout_mixed_groups": heldout_host["mixed_groups"],
    "entropy": first["entropy_before"],
    **{k: first[k] for k in first if k.split("_")[0] in ("tokens", "length", "confident")},
    "pred_pos": first["delta_entropy_predicted_pos"],
    "pred_neg": first["delta_entropy_predicted_neg"],
    "dH": {r["variant"]: r["delta_entropy"] for r in records},
    "dH_heldout": {r["variant"]: r["delta_entropy_heldout"] for r in records},
    "micro_batches": {r["variant"]: r["micro_batches"] for r in records},
    "examples": texts[:4],
    "seconds": time.perf_counter() - t0,
  }
  return out


def _overrides(setting: str) -> dict:
  return dict(probe.COUNTERFACTUALS[setting])


def meets_premise(record: dict, min_mixed: float = 0.4, setting: str = "N=4") -> bool:
  """The selection rule: a learning signal, and held-out entropy up under the Â < 0-only update
  and down under the Â > 0-only update at `setting`."""
  held = record["dH_heldout"]
  return (
    record["mixed_groups"] >= min_mixed
    and held[f"{setting}/neg"] > 0
    and held[f"{setting}/pos"] < 0
  )


def choose(records: list[dict], min_mixed: float = 0.4, setting: str = "N=4") -> tuple[dict, bool]:
  """(the chosen record, whether it meets the rule). Among those that meet it, the largest
  held-out gap ΔH(neg) - ΔH(pos); if none does, the candidate with a learning signal whose Â < 0
  update raises held-out entropy most (the closest), else the most mixed."""
  gap = lambda r: r["dH_heldout"][f"{setting}/neg"] - r["dH_heldout"][f"{setting}/pos"]
  good = [r for r in records if meets_premise(r, min_mixed, setting)]
  if good:
    return max(good, key=gap), True
  signal = [r for r in records if r["mixed_groups"] >= min_mixed]
  if signal:
    return max(signal, key=lambda r: r["dH_heldout"][f"{setting}/neg"]), False
  return max(records, key=lambda r: r["mixed_groups"]), False


def read_records(outdir: str) -> list[dict]:
  return metric_writer.read_jsonl(os.path.join(outdir, "screen.jsonl"))


def screen(candidates: dict, outdir: str, *, settings=SETTINGS, log=print) -> list[dict]:
  """Screens every (name -> config) of `candidates` not yet in OUTDIR/screen.jsonl, appending one
  line each as it finishes; then writes OUTDIR/screen.md and OUTDIR/screen.png. Returns all
  records in the candidates' order."""
  for config in candidates.values():  # every config checked before the first long screen
    config_validation.validate_config(config)
  os.makedirs(outdir, exist_ok=True)
  done = {r["candidate"]: r for r in read_records(outdir)}
  for i, (name, config) in enumerate(candidates.items()):
    if name in done:
      log(f"[{i + 1}/{len(candidates)}] {name}: already screened")
      continue
    log(f"[{i + 1}/{len(candidates)}] {name}: screening")
    record = screen_candidate(name, config, os.path.join(outdir, "candidates", name), settings)
    with open(os.path.join(outdir, "screen.jsonl"), "a") as f:
      f.write(json.dumps(record) + "\n")
    done[name] = record
    log(f"  {format_row(record, settings)} ({record['seconds']:.0f} s)")
  records = [done[n] for n in candidates if n in done]
  with open(os.path.join(outdir, "screen.md"), "w") as f:
    f.write(table(records, settings))
  plotting.plot_screen(records, os.path.join(outdir, "screen.png"), settings)
  return records


def format_row(r: dict, settings=SETTINGS) -> str:
  held = " ".join(
    f"{s}: neg {r['dH_heldout'][f'{s}/neg']:+.4f} pos {r['dH_heldout'][f'{s}/pos']:+.4f}"
    for s in settings
  )
  return f"reward {r['reward']:.2f} mixed {r['mixed_groups']:.2f} held-out ΔH {held}"


def table(records: list[dict], settings=SETTINGS) -> str:
  """A markdown table of the records, one row per candidate."""
  head = [
    "candidate",
    "T",
    "reward",
    "mixed",
    "H",
    "tokens Â>0 / Â<0",
    "length Â>0 / Â<0",
    "confident Â>0 / Â<0",
    "1st-order ΔH Â>0 / Â<0",
  ]
  for s in settings:
    head += [f"ΔH batch {s} Â>0 / Â<0", f"ΔH held-out {s} Â>0 / Â<0"]
  head.append("meets")
  lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
  for r in records:
    row = [
      r["candidate"],
      f"{r['temperature']:g}",
      f"{r['reward']:.2f}",
      f"{r['mixed_groups']:.2f}",
      f"{r['entropy']:.3f}",
      f"{r['tokens_pos']} / {r['tokens_neg']}",
      f"{r['length_pos']:.1f} / {r['length_neg']:.1f}",
      f"{r['confident_pos']:.2f} / {r['confident_neg']:.2f}",
      f"{r['pred_pos']:+.4f} / {r['pred_neg']:+.4f}",
    ]
    for s in settings:
      for key in ("dH", "dH_heldout"):
        row.append(f"{r[key][f'{s}/pos']:+.4f} / {r[key][f'{s}/neg']:+.4f}")
    row.append("yes" if meets_premise(r, setting=settings[-1]) else "no")
    lines.append("| " + " | ".join(row) + " |")
  return "\n".join(lines) + "\n"
