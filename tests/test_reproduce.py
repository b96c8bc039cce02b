"""Paper configs (configs/paper/) and the reproduction pipeline (jax_rlvr/jobs/: the sweep runner,
the figures and tables drawn from its workdirs)."""

import csv
import json
import os

import matplotlib.pyplot as plt
import pytest

from jax_rlvr import config_files, config_validation, rl_step
from jax_rlvr.jobs import reproduce, results, sweep

# The checkout's paper configs, read by path as the jobs read them.
PAPER = os.path.join(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "paper"
)
figures = sweep.load_figures(PAPER)
base = config_files.load_module(os.path.join(PAPER, "base.py"))

# The run names summary.json must use, besides the data-diversity ones.
EXPECTED_RUNS = {
  "grpo",
  "clip_higher",
  "clip_lower",
  "clip_tighter",
  "clip_free",
  "offpolicy_n1",
  "offpolicy_n2",
  "offpolicy_n4",
  "adv_nonneg_only",
  "adv_nonpos_only",
  "rand_pos_clip",
  "clip_cov",
  "kl_cov",
  "entropy_adv",
  "ent_bonus_0.001",
  "ent_bonus_0.002",
  "ent_bonus_-0.001",
  "ada_ent_reg_0.2",
  "ada_ent_reg_init",
  "pos_adv_stage",
  "pos_adv_epoch",
  "pos_adv_entropy_guided",
}


@pytest.mark.parametrize("scale", ["toy", "full"])
def test_every_paper_config_loads_and_validates(scale):
  runs = figures.sweeps(scale)
  assert EXPECTED_RUNS <= set(runs)
  diversity = {n for n in runs if n.startswith("diversity_")}
  assert {n.split("_")[1] for n in diversity} == {"clustered", "random"}
  assert EXPECTED_RUNS | diversity == set(runs)
  for name in runs:
    config = figures.run_config(name, scale, smoke=False)
    # The full scale's hosts too: each host must hold whole rows of every micro-batch.
    processes = config.hardware.num_processes if scale == "full" else None
    config_validation.validate_config(
      config, num_devices=base.num_devices(config), num_processes=processes
    )
    rl_step.RLHyperParams.from_config(config)  # every rl field reaches the update by name
    if scale == "full":
      assert config.model.preset == "qwen2.5-math-7b"
      assert config.data.task == "math" and config.data.dataset == "dapo_math_17k"
      assert (config.eval.k, config.eval.temperature, config.eval.top_p) == (64, 1.0, 1.0)
  # Overrides reach the config (spot checks of the paper's settings).
  grpo = figures.run_config("grpo", scale, smoke=False)
  assert (grpo.rl.eps_low, grpo.rl.eps_high, grpo.rl.mini_batches) == (0.2, 0.2, 1)
  clip_higher = figures.run_config("clip_higher", scale, smoke=False).rl
  # Clipping acts only off-policy: the clipping sweep runs at N = 4, like offpolicy_n4.
  assert (clip_higher.eps_high, clip_higher.mini_batches) == (0.28, 4)
  assert figures.run_config("clip_free", scale, smoke=False).rl.clip is False
  assert figures.run_config("offpolicy_n4", scale, smoke=False).rl.mini_batches == 4
  assert figures.run_config("adv_nonneg_only", scale, smoke=False).rl.neg_weight == 0.0
  assert figures.run_config("ent_bonus_-0.001", scale, smoke=False).rl.entropy_coef == -0.001
  guided = figures.run_config("pos_adv_entropy_guided", scale, smoke=False).rl
  assert (guided.pos_weight_schedule, guided.entropy_target, guided.pos_weight_init) == (
    "entropy_guided",
    0.2,
    0.0,
  )


def test_scale_prefixed_overrides_and_unknown_runs():
  assert figures.run_config("clip_cov", "toy", smoke=False).rl.cov_fraction == 2e-3
  assert figures.run_config("clip_cov", "full", smoke=False).rl.cov_fraction == 2e-4
  with pytest.raises(ValueError, match="Unknown run"):
    base.experiment_config(lambda scale: {"a": {}}, "toy,b")
  with pytest.raises(ValueError, match="Unknown figure"):
    figures.figure_runs("nope", "toy")


@pytest.mark.slow
def test_reproduce_smoke_figure_then_resume_skips(tmp_path, monkeypatch):
  # The training subprocesses use the one real CPU device, not the tests' 8 fake ones.
  monkeypatch.setenv("XLA_FLAGS", "")
  outdir = str(tmp_path / "out")
  log = []
  paths = reproduce.reproduce(
    ["prompt_entropy"], "toy", outdir, paper_dir=PAPER, smoke=True, jobs=2, log=log.append
  )
  png = os.path.join(outdir, "prompt_entropy.png")
  assert png in paths and os.path.getsize(png) > 0
  # One shared warm-up, then the figure's two runs.
  assert sorted(line.split(":")[0] for line in log if line.startswith("train ")) == [
    "train _warmup",
    "train clip_higher",
    "train grpo",
  ]
  with open(os.path.join(outdir, "summary.json")) as f:
    summary = json.load(f)
  # grpo is also offpolicy_n1 (the same config): both names are reported.
  assert set(summary) == {"grpo", "clip_higher", "offpolicy_n1"}
  for record in summary.values():
    assert record["entropy"] > 0 and 0 <= record["accuracy"] <= 1
    assert 0 <= record["avg@k"] <= record["pass@k"] <= 1
    # The mean clipped fractions over the run's steps (0 at N = 1, where every ratio is 1).
    assert 0 <= record["clip_frac_low"] <= 1 and 0 <= record["clip_frac_high"] <= 1
  assert summary["grpo"]["clip_frac_low"] == summary["grpo"]["clip_frac_high"] == 0
  # The runs started from the shared warm-up: its steps are in each run's metrics.
  drawn = results.Results(outdir, "toy", paper_dir=PAPER)
  rl_evals = drawn.evals("grpo")
  assert rl_evals[0]["step"] == 4 and rl_evals[-1]["rl_step"] == 2
  # The summary's entropy is the EMA-0.6 of the run's per-step entropy, its avg@k the last eval's.
  grpo_entropy = [r["entropy"] for r in drawn.rl_records("grpo")]
  assert len(grpo_entropy) == 2
  assert summary["grpo"]["entropy"] == pytest.approx(0.6 * grpo_entropy[0] + 0.4 * grpo_entropy[1])
  assert summary["grpo"]["avg@k"] == rl_evals[-1]["avg@4"] and summary["grpo"]["k"] == 4
  assert summary["offpolicy_n1"] == summary["grpo"]
  with open(os.path.join(outdir, "results.md")) as f:
    table = f.read()
  assert "| grpo |" in table and "| clip_higher |" in table and "avg@4" in table
  with open(os.path.join(outdir, "results.csv")) as f:
    rows = list(csv.reader(f))
  assert rows[0][0] == "method" and {r[0] for r in rows[1:]} == {"grpo", "clip_higher"}
  grpo_row = next(r for r in rows if r[0] == "grpo")
  assert float(grpo_row[3]) == pytest.approx(summary["grpo"]["entropy"], abs=1e-4)
  # The other figures draw from whatever runs are present (no training: none are missing here).
  widths = {}
  for figure in ("clipping", "entropy_vs_diversity", "calibration", "methods"):
    assert drawn.draw(figure) == [os.path.join(outdir, f"{figure}.png")]
    widths[figure] = plt.imread(os.path.join(outdir, f"{figure}.png")).shape[1]
  # One panel per metric, and λ in the methods figure; calibration draws one reliability diagram
  # per run present (grpo, clip_higher) and ECE against entropy.
  assert widths["methods"] / widths["clipping"] == pytest.approx(21 / 17, abs=0.01)
  assert widths["calibration"] / widths["clipping"] == pytest.approx(3 * 3.6 / 17, abs=0.01)
  assert drawn.entropy_target("grpo") is None
  with open(os.path.join(outdir, "entropy_vs_diversity.json")) as f:
    corr = json.load(f)
  # The shared starting eval counts once, then the final eval of each of the two runs.
  assert corr["distinct_1"]["n"] == 3
  assert set(corr["self_bleu"]) == {"pearson", "spearman", "n"}
  mtime = os.path.getmtime(os.path.join(outdir, "runs", "grpo", "metrics.jsonl"))

  # The runs shared one persistent compilation cache.
  assert os.listdir(os.path.join(outdir, "jax_cache"))

  # Rerun with one more named run: only that run trains, from the same warm-up.
  log.clear()
  reproduce.reproduce(
    ["prompt_entropy"],
    "toy",
    outdir,
    paper_dir=PAPER,
    runs=["adv_nonneg_only"],
    smoke=True,
    log=log.append,
  )
  assert [line.split(":")[0] for line in log if line.startswith("train ")] == [
    "train adv_nonneg_only"
  ]
  assert "skip grpo (complete)" in log and "skip clip_higher (complete)" in log
  with open(os.path.join(outdir, "results.md")) as f:
    assert "| adv_nonneg_only |" in f.read()
  assert os.path.getmtime(os.path.join(outdir, "runs", "grpo", "metrics.jsonl")) == mtime


def test_diversity_runs_map_to_the_subset_sizes_reached_with_whole_clusters(tmp_path):
  rep = sweep.Sweep(str(tmp_path), "toy", paper_dir=PAPER)
  os.makedirs(rep.subset_dir())
  with open(os.path.join(rep.subset_dir(), "manifest.json"), "w") as f:
    json.dump({"cluster_sizes": [600, 300, 200] + [100] * 40}, f)
  names = figures.figure_runs("diversity", "toy")
  subsets = rep.ensure_subsets(names, warmup_config=None)
  # 1000 -> 600 + 300 (the next cluster would exceed it); 4000 -> 1100 + 29 × 100.
  assert subsets == {
    "diversity_clustered_1000": "clustered_900",
    "diversity_random_1000": "random_900",
    "diversity_clustered_4000": "clustered_4000",
    "diversity_random_4000": "random_4000",
  }


def test_entropy_target_of_steered_runs(tmp_path):
  rep = results.Results(str(tmp_path), "toy", paper_dir=PAPER)
  for name in ("pos_adv_entropy_guided", "ada_ent_reg_0.2", "clip_cov"):
    os.makedirs(rep.workdir(name))
    with open(os.path.join(rep.workdir(name), "config.json"), "w") as f:
      f.write(figures.run_config(name, "toy", smoke=False).to_json_best_effort())
  assert rep.entropy_target("pos_adv_entropy_guided") == 0.2
  assert rep.entropy_target("ada_ent_reg_0.2") == 0.2
  assert rep.entropy_target("clip_cov") is None


def test_outdir_overrides_reach_every_run_and_keep_the_shared_warmup(tmp_path):
  plain = sweep.Sweep(str(tmp_path / "a"), "toy", paper_dir=PAPER)
  fast = sweep.Sweep(
    str(tmp_path / "b"), "toy", paper_dir=PAPER, overrides={"optim.learning_rate": 1e-3}
  )
  config = fast.run_config("clip_higher")
  assert config.optim.learning_rate == 1e-3 and config.rl.eps_high == 0.28
  assert fast._common_overrides("clip_higher")["optim.learning_rate"] == "0.001"
  # The learning rate is an RL setting: runs still share one warm-up.
  assert fast._warmup_signature(config) == plain._warmup_signature(plain.run_config("grpo"))


def test_real_scale_runs_validate_with_the_packaged_model():
  table = figures.figure_runs("table", "real")
  assert {"grpo", "adv_nonneg_only", "adv_nonpos_only", "pos_adv_entropy_guided"} <= set(table)
  assert {"offpolicy_n4", "clip_higher"} <= set(table)  # Clip-Higher against GRPO at the same N
  for name in table:
    for smoke in (False, True):
      config = figures.run_config(name, "real", smoke=smoke)
      config_validation.validate_config(config, num_devices=1)
      assert config.model.hf_checkpoint == "packaged:smollm2-135m-instruct"
      assert config.warmup.steps == 0 and config.data.answer_format == "last_number"
  n4, higher = (figures.run_config(n, "real", smoke=False).rl for n in table[3:5])
  assert (n4.mini_batches, higher.mini_batches, higher.eps_high) == (4, 4, 0.28)
  with pytest.raises(ValueError, match="at scale 'real'"):
    figures.figure_runs("diversity", "real")


def _write_finished_run(workdir, scale, name, overrides, start_entropy, entropies=()):
  """What a finished run leaves for the sweep and the results: its first eval (the starting
  entropy), per-step RL metrics, config.json with the δ it was given, summary.json."""
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "eval.jsonl"), "w") as f:
    f.write(json.dumps({"step": 0, "rl_step": 0, "entropy": start_entropy, "avg@4": 0.2}) + "\n")
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    for i, h in enumerate(entropies):
      record = {"phase": "rl", "rl_step": i + 1, "entropy": h, "accuracy": 0.5}
      f.write(json.dumps({**record, "clip_frac_low": 0.01, "clip_frac_high": 0.02}) + "\n")
  config = figures.run_config(name if name != "_initial" else "grpo", scale, smoke=False)
  if "rl.entropy_target" in overrides:
    config.rl.entropy_target = float(overrides["rl.entropy_target"])
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort())
  with open(os.path.join(workdir, "summary.json"), "w") as f:
    json.dump({"stopped_early": False}, f)


def test_real_scale_sets_delta_from_the_measured_starting_entropy(tmp_path, monkeypatch):
  """Without a warm-up, one eval of the starting policy (runs/_initial) runs first; the runs
  that hold entropy where it began get δ = its entropy, and summary.json reports it."""
  rep = sweep.Sweep(str(tmp_path), "real", jobs=1, paper_dir=PAPER)
  trained = []

  def fake_train(name, module, arg, overrides):
    trained.append((name, overrides))
    _write_finished_run(rep.workdir(name), "real", name, overrides, 1.8661)

  monkeypatch.setattr(rep, "_train", fake_train)
  rep.ensure_runs(["pos_adv_entropy_guided", "adv_nonneg_only"])
  assert [name for name, _ in trained] == ["_initial", "pos_adv_entropy_guided", "adv_nonneg_only"]
  assert trained[0][1]["num_steps"] == 0
  assert trained[1][1]["rl.entropy_target"] == "1.8661"
  assert "rl.entropy_target" not in trained[2][1]
  drawn = results.Results(str(tmp_path), "real", paper_dir=PAPER)
  assert drawn.run_summary("pos_adv_entropy_guided")["entropy_target"] == pytest.approx(1.8661)
  assert "entropy_target" not in drawn.run_summary("adv_nonneg_only")


def test_real_offpolicy_scale_runs_every_run_at_n4_with_delta_below_the_start(
  tmp_path, monkeypatch
):
  """The paper's regime on the real model: every run validates at N = 4 on the screen's chosen
  setting, GRPO logs the sign probe, and the two controllers get δ = 0.55 × the measured start."""
  table = figures.figure_runs("table", "real_offpolicy")
  assert {"grpo", "adv_nonneg_only", "adv_nonpos_only", "clip_higher", "clip_lower"} <= set(table)
  assert {"pos_adv_entropy_guided", "ada_ent_reg_0.2", "clip_cov"} <= set(table)
  for name in table:
    for smoke in (False, True):
      config = figures.run_config(name, "real_offpolicy", smoke=smoke)
      config_validation.validate_config(config, num_devices=1)
      assert config.rl.mini_batches == 4
      assert config.eval.temperature == config.rollout.temperature
    assert (config.rl.probe_every > 0) == (name == "grpo")
  rep = sweep.Sweep(str(tmp_path), "real_offpolicy", jobs=1, paper_dir=PAPER)
  trained = {}

  # 12 steps: the last 10 hold 3 within ±0.05 of δ = 0.44.
  entropies = [0.8, 0.8, 0.7, 0.45, 0.40, 0.48, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]

  def fake_train(name, module, arg, overrides):
    trained[name] = overrides
    _write_finished_run(rep.workdir(name), "real_offpolicy", name, overrides, 0.8, entropies)

  monkeypatch.setattr(rep, "_train", fake_train)
  rep.ensure_runs(["pos_adv_entropy_guided", "ada_ent_reg_0.2", "grpo"])
  assert trained["pos_adv_entropy_guided"]["rl.entropy_target"] == "0.4400"
  assert trained["ada_ent_reg_0.2"]["rl.entropy_target"] == "0.4400"
  assert "rl.entropy_target" not in trained["grpo"]
  drawn = results.Results(str(tmp_path), "real_offpolicy", paper_dir=PAPER)
  guided = drawn.run_summary("pos_adv_entropy_guided")
  assert guided["entropy_target"] == pytest.approx(0.44)
  assert guided["near_target_last10"] == pytest.approx(0.3)
  assert (guided["clip_frac_low"], guided["clip_frac_high"]) == pytest.approx((0.01, 0.02))
  assert "near_target_last10" not in drawn.run_summary("grpo")
