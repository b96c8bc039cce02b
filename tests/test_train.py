"""End-to-end tests of the train and eval loops on the smoke config."""

import glob
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import jax
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from configs import default as default_config
from jax_rlvr import (
  checkpointing,
  config_fields,
  config_validation,
  evaluate,
  metric_writer,
  plotting,
  sharding,
  train,
  train_state,
)
from jax_rlvr.jobs import entropy_probe

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRED_METRICS = (
  "step",
  "reward_mean",
  "accuracy",
  "entropy",
  "entropy_pos_adv",
  "entropy_neg_adv",
  "pos_weight",
  "clip_frac_low",
  "clip_frac_high",
  "approx_kl",
  "grad_norm",
  "response_length",
  "time_sample_s",
  "time_grade_s",
  "time_train_s",
  "time_generate_s",
  "time_step_s",
  "logp_mismatch",
  "mixed_groups",
  "logp_mismatch_max",
  "entropy_policy",
  "entropy_sampled",
)


def smoke_config(**overrides):
  config = default_config.get_config("smoke")
  # Two updates per rollout (N = 2) so that clipping and the optimiser state matter for resume.
  config.rl.mini_batches = 2
  # The trainer's own forward pass, so that logp_mismatch checks the sampler against it.
  config.rl.old_logp = "recompute"
  config.num_steps = 4
  return config_fields.set_fields(config, overrides)


def final_params(workdir, config):
  trainer = train.Trainer(config, workdir)
  state = trainer.restore_or_init()
  trainer.checkpointer.close()
  return int(state.step), jax.tree.leaves(jax.device_get(state.params))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("smoke"))
  config = smoke_config()
  summary = train.train_and_evaluate(config, workdir)
  return workdir, config, summary


@pytest.mark.slow
def test_smoke_run_writes_metrics_eval_plots(smoke_run):
  workdir, config, summary = smoke_run
  total = config.warmup.steps + config.num_steps
  assert summary["step"] == total and not summary["stopped_early"]
  records = metric_writer.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  assert [r["step"] for r in records] == list(range(1, total + 1))
  rl = [r for r in records if r["phase"] == "rl"]
  assert len(rl) == config.num_steps
  rows = config.rollout.prompts_per_step * config.rollout.group_size
  for record in rl:
    missing = [k for k in REQUIRED_METRICS if k not in record]
    assert not missing, missing
    # Binary rewards: the mean reward is the fraction of the P·G responses graded correct.
    assert record["reward_mean"] == pytest.approx(record["accuracy"])
    assert record["accuracy"] * rows == pytest.approx(round(record["accuracy"] * rows))
    # The compiled parts are timed inside the step's own time.
    assert 0 < record["time_generate_s"] <= record["time_sample_s"] < record["time_step_s"]
    assert record["time_generate_s"] + record["time_train_s"] < record["time_step_s"]
    # At temperature 1 without top-k / top-p, the trainer's, the policy's and the sampled
    # distribution's token entropies are one number.
    assert config.rollout.temperature == 1.0 and config.rollout.top_k == 0
    assert record["entropy_policy"] == pytest.approx(record["entropy"], rel=1e-5)
    assert record["entropy_sampled"] == pytest.approx(record["entropy"], rel=1e-5)
    assert record["num_updates"] == 2
    # Sampler and trainer compute the same log-probs for the same parameters.
    assert record["logp_mismatch"] < 1e-4
  warm = [r for r in records if r["phase"] == "warmup"]
  assert warm[-1]["sft_loss"] < warm[0]["sft_loss"]
  evals = metric_writer.read_jsonl(os.path.join(workdir, "eval.jsonl"))
  assert [e["step"] for e in evals] == [config.warmup.steps, total]
  for e in evals:
    assert {"avg@4", "pass@1", "pass@4", "entropy", "response_length"} <= set(e)
    assert e["pass@1"] == pytest.approx(e["avg@4"]) and e["pass@4"] >= e["pass@1"]
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["rollout"]["group_size"] == config.rollout.group_size
  with open(os.path.join(workdir, "summary.json")) as f:
    assert json.load(f) == summary
  assert 0 < summary["host_time_share"] < 1
  # The overview draws reward, accuracy, entropy and λ (C0) in their own panels, and eval avg@k
  # (C1, over the training accuracy when both are 0) on accuracy's.
  overview = plt.imread(os.path.join(workdir, "plots", "overview.png"))[..., :3]
  panels = np.array_split(overview, 4, axis=1)
  assert [_has_colour(panels[i], "C0") for i in (0, 2, 3)] == [True] * 3
  assert [_has_colour(panel, "C1") for panel in panels] == [False, True, False, False]
  # TensorBoard holds the same scalars as the JSON lines.
  scalars = _tensorboard_scalars(os.path.join(workdir, "tb"))
  for record in rl:
    for key in ("reward_mean", "entropy", "pos_weight"):
      assert scalars[("metrics/" + key, record["step"])] == pytest.approx(record[key], rel=1e-6)
  assert scalars[("eval/entropy", total)] == pytest.approx(evals[-1]["entropy"], rel=1e-6)


def _has_colour(image_HWC, colour: str, tol: float = 0.02) -> bool:
  """Whether some pixel of an RGB float image is the matplotlib colour `colour`."""
  rgb = np.array(matplotlib.colors.to_rgb(colour))
  return bool((np.abs(image_HWC - rgb).max(-1) < tol).any())


def _tensorboard_scalars(tb_dir: str) -> dict[tuple[str, int], float]:
  """{(tag, step): value} of every scalar in the event files of `tb_dir` (TFRecord framing:
  uint64 length, uint32 CRC, the Event proto, uint32 CRC)."""
  out = {}
  for path in glob.glob(os.path.join(tb_dir, "*")):
    with open(path, "rb") as f:
      data = f.read()
    i = 0
    while i < len(data):
      (length,) = struct.unpack("<Q", data[i : i + 8])
      event = event_pb2.Event.FromString(data[i + 12 : i + 12 + length])
      i += 12 + length + 4
      for value in event.summary.value:
        out[(value.tag, event.step)] = value.simple_value
  return out


@pytest.mark.slow
def test_resume_is_exact(smoke_run, tmp_path):
  workdir, config, _ = smoke_run
  total = config.warmup.steps + config.num_steps
  interrupted = str(tmp_path / "interrupted")
  # Stop in the RL phase, after a checkpoint that is not at the end.
  summary = train.Trainer(config, interrupted).run(stop_after=config.warmup.steps + 1)
  assert summary["stopped_early"]
  summary = train.Trainer(config, interrupted).run()
  assert summary["step"] == total and not summary["stopped_early"]

  step_a, params_a = final_params(workdir, config)
  step_b, params_b = final_params(interrupted, config)
  assert step_a == step_b == total
  for a, b in zip(params_a, params_b, strict=True):
    np.testing.assert_array_equal(a, b)
  records_a = metric_writer.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  records_b = metric_writer.read_jsonl(os.path.join(interrupted, "metrics.jsonl"))
  assert [r["step"] for r in records_b] == list(range(1, total + 1))
  for ra, rb in zip(records_a, records_b, strict=True):
    for key in ("reward_mean", "entropy", "sft_loss", "pos_weight"):
      assert ra.get(key) == rb.get(key), (ra["step"], key)


@pytest.mark.slow
def test_rl_controllers_start_from_the_runs_config_after_a_shared_warmup(tmp_path):
  # scripts/reproduce.py seeds every run with one warm-up checkpoint, trained with the default λ_0.
  workdir = str(tmp_path / "run")
  config = smoke_config(num_steps=1)
  train.Trainer(config, workdir).run(stop_after=config.warmup.steps)
  guided = smoke_config(**{"num_steps": 1, "rl.pos_weight_schedule": "entropy_guided"})
  guided.rl.pos_weight_init = 0.7
  train.Trainer(guided, workdir).run()
  records = metric_writer.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  rl = [r for r in records if r["phase"] == "rl"]
  assert rl[0]["pos_weight"] == pytest.approx(0.7)


def _files(workdir):
  """(path, size, mtime) of every file in `workdir`."""
  out = set()
  for root, _, names in os.walk(workdir):
    for name in names:
      stat = os.stat(os.path.join(root, name))
      out.add((os.path.relpath(os.path.join(root, name), workdir), stat.st_size, stat.st_mtime_ns))
  return out


@pytest.mark.slow
def test_steps_without_learning_signal_warn_once(tmp_path, monkeypatch):
  """An untrained policy (no warm-up) never solves a sum: every group's rewards are 0, so the
  loop warns once, after NO_SIGNAL_STEPS steps, that nothing is learned."""
  calls = []
  monkeypatch.setattr(train, "warn_no_signal", lambda **kw: calls.append(kw))
  config = smoke_config(**{"warmup.steps": 0, "num_steps": train.NO_SIGNAL_STEPS + 1})
  train.train_and_evaluate(config, str(tmp_path))
  records = metric_writer.read_jsonl(os.path.join(tmp_path, "metrics.jsonl"))
  assert [r["mixed_groups"] for r in records] == [0.0] * (train.NO_SIGNAL_STEPS + 1)
  assert calls == [{"rl_step": train.NO_SIGNAL_STEPS, "reward": 0.0}]


@pytest.mark.slow
def test_probe_in_training_and_on_a_checkpoint(smoke_run, tmp_path):
  """rl.probe_every = 2 logs the sign probe on GRPO steps 2 and 4 without changing the training;
  the probe of scripts/entropy_probe.py runs on the checkpoint at the start of RL."""
  ref_dir, _, _ = smoke_run
  workdir = str(tmp_path / "probed")
  config = smoke_config(**{"rl.probe_every": 2, "checkpoint.max_to_keep": 4})
  train.train_and_evaluate(config, workdir)
  rl = lambda d: [r for r in metric_writer.read_jsonl(f"{d}/metrics.jsonl") if r["phase"] == "rl"]
  ref, got = rl(ref_dir), rl(workdir)
  for a, b in zip(ref, got, strict=True):
    for key in ("loss", "entropy", "grad_norm", "reward_mean", "approx_kl"):
      assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-7), (a["rl_step"], key)
  probed = [r for r in got if "probe_dH_all" in r]
  assert [r["rl_step"] for r in probed] == [2, 4]
  for r in probed:
    assert r["probe_dH_pred_all"] == pytest.approx(r["probe_dH_pred_pos"] + r["probe_dH_pred_neg"])
    assert all(np.isfinite(r[f"probe_dH_{s}"]) for s in ("all", "pos", "neg"))
  assert os.path.getsize(os.path.join(workdir, "plots", "probe.png")) > 1000

  # What scripts/entropy_probe.py runs, in-process (the probe's compilation is reused).
  records = entropy_probe.probe_checkpoint(
    config, workdir, config.warmup.steps, settings=("run", "N=4,clip_free")
  )
  assert [r["variant"] for r in records] == [
    f"{s}/{sign}" for s in ("run", "N=4,clip_free") for sign in ("all", "pos", "neg")
  ]
  by_name = {r["variant"]: r for r in records}
  assert by_name["run/pos"]["num_neg_tokens"] == by_name["run/neg"]["num_pos_tokens"] == 0
  assert by_name["run/all"]["num_updates"] == 2 and by_name["N=4,clip_free/all"]["num_updates"] == 4
  for r in records:
    assert r["rl_step"] == 0 and np.isfinite(r["delta_entropy_heldout"])
    # Tokens with Â = 0 carry no gradient: a variant with nothing to train leaves H unchanged.
    if r["num_pos_tokens"] + r["num_neg_tokens"] == 0:
      assert r["delta_entropy"] == 0 and r["delta_entropy_predicted"] == 0
    else:
      assert r["delta_entropy"] != 0
  png = plotting.plot_probe(records, str(tmp_path / "probe.png"))
  assert os.path.getsize(png) > 1000


@pytest.mark.slow
def test_eval_script_uses_the_runs_config_and_writes_only_eval_jsonl(smoke_run):
  workdir, config, _ = smoke_run
  before = metric_writer.read_jsonl(os.path.join(workdir, "eval.jsonl"))
  files = {f for f in _files(workdir) if f[0] != "eval.jsonl"}
  out = subprocess.run(
    [sys.executable, "scripts/eval.py", f"--workdir={workdir}", "--config.eval.num_prompts=4"],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  # The run's smoke config (k = 4), with the one override applied.
  assert result["num_prompts"] == 4 and "avg@4" in result
  evals = metric_writer.read_jsonl(os.path.join(workdir, "eval.jsonl"))
  assert evals[:-1] == before and evals[-1]["source"] == "scripts/eval.py"
  assert evals[-1]["step"] == config.warmup.steps + config.num_steps
  assert result["avg@4"] == evals[-1]["avg@4"]
  # config.json, checkpoints, data, metrics: all as training left them.
  assert {f for f in _files(workdir) if f[0] != "eval.jsonl"} == files
  # Library logging stays quiet: no absl INFO lines (orbax logs every file it touches at INFO).
  assert not re.search(r"^I\d{4} ", out.stderr, re.M), out.stderr[-2000:]


@pytest.mark.slow
def test_restore_params_reads_the_final_state_and_evaluate_repeats_the_final_eval(
  smoke_run, tmp_path
):
  """restore_params writes nothing and returns the trainer's final parameters; evaluate() on them
  (same eval key) reproduces the run's own final evaluation."""
  workdir, config, _ = smoke_run
  run = str(tmp_path / "run")
  shutil.copytree(workdir, run)
  files = _files(run)
  mesh = sharding.make_mesh(config.mesh.shape)
  step, _, params = train_state.restore_params(config, run, mesh)
  assert _files(run) == files
  ref_step, ref_leaves = final_params(run, config)
  assert step == ref_step == config.warmup.steps + config.num_steps
  for got, want in zip(jax.tree.leaves(jax.device_get(params)), ref_leaves, strict=True):
    np.testing.assert_array_equal(got, want)
  # The training loop's last evaluation (scripts/eval.py's records carry a "source").
  final = [
    r for r in metric_writer.read_jsonl(os.path.join(run, "eval.jsonl")) if "source" not in r
  ][-1]
  result = evaluate.evaluate(config, run)
  assert final["step"] == step
  assert {k: v for k, v in final.items() if k not in ("step", "rl_step")} == result


@pytest.mark.slow
def test_eval_refuses_a_config_for_another_model(smoke_run, tmp_path):
  workdir, _, _ = smoke_run
  raw = tmp_path / "raw"
  os.makedirs(raw / "gsm8k")
  for split in ("train", "test"):
    with open(raw / "gsm8k" / f"{split}.jsonl", "w") as f:
      f.write(json.dumps({"question": "1+1?", "answer": "#### 2"}) + "\n")
  # Another task -> another character tokenizer -> another embedding shape.
  config = smoke_config(
    **{
      "data.task": "math",
      "data.dataset": "gsm8k",
      "data.eval_dataset": "gsm8k:test",
      "data.manual_dir": str(raw),
      "data.data_dir": str(tmp_path / "data"),
      "warmup.steps": 0,
    }
  )
  files = _files(workdir)
  with pytest.raises(checkpointing.CheckpointMismatchError, match="written for another model"):
    evaluate.evaluate(config, workdir)
  assert _files(workdir) == files


@pytest.mark.parametrize(
  "field,value,message",
  [
    ("rollout.group_size", 1, "G >= 2"),
    ("rl.eps_high", 1.5, "must lie in (0, 1)"),
    ("rl.eps_low", 0.0, "must lie in (0, 1)"),
    ("rl.method", "clip_cov_typo", "choose one of"),
    ("rl.pos_weight_schedule", "cosine", "choose one of"),
    ("rl.advantage", "ppo", "choose one of"),
    ("rl.mini_batches", 3, "split evenly"),
    ("eval.pass_ks", (1, 64), "eval.k"),
  ],
)
def test_validate_config_names_field_and_fix(field, value, message):
  config = default_config.get_config()
  node = config
  *path, leaf = field.split(".")
  for part in path:
    node = node[part]
  node[leaf] = value
  with pytest.raises(config_validation.ConfigError) as error:
    config_validation.validate_config(config, num_devices=8)
  assert f"config.{field}=" in str(error.value) and message in str(error.value)


def test_batch_must_divide_over_data_devices():
  config = default_config.get_config()
  config.rollout.prompts_per_step, config.rollout.group_size = 3, 3
  config.rl.micro_batches = 1  # 9 rows do not split into the default's 4 micro-batches
  with pytest.raises(config_validation.ConfigError, match="divisible by the 8 devices"):
    config_validation.validate_config(config, num_devices=8)
  config_validation.validate_config(config, num_devices=1)


def test_default_and_smoke_configs_validate():
  config_validation.validate_config(default_config.get_config(), num_devices=8)
  config_validation.validate_config(default_config.get_config("smoke"), num_devices=1)


def test_misspelled_override_is_an_error():
  out = subprocess.run(
    [sys.executable, "scripts/train.py", "--workdir=/tmp/unused", "--config.rl.eps_hihg=0.28"],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert out.returncode != 0 and "eps_hihg" in out.stderr
