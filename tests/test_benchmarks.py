"""The benchmarks: contention re-timing, forced token counts of both peers, the table, and the
single-library update on several groups."""

import dataclasses
import re

import numpy as np
import pytest
from flax import nnx

from configs import common
from jax_rlvr.benchmarks import jax_side, markdown, side_by_side, single_library, timing, torch_side
from jax_rlvr.models import Policy, count_params, get_preset, load_hf_checkpoint, save_hf_checkpoint


@dataclasses.dataclass
class FakeMachine:
  """A clock and /proc counters: call k of `work` lasts durations[k] s while other processes
  use others[k] cores and this process one."""

  durations: list
  others: list
  now: float = 0.0
  busy: float = 0.0
  own: float = 0.0
  calls: int = 0

  def clock(self):
    return self.now

  def cpu(self):
    return self.busy, self.own

  def work(self):
    elapsed, others = self.durations[self.calls], self.others[self.calls]
    self.now += elapsed
    self.own += elapsed
    self.busy += elapsed * (1.0 + others)
    self.calls += 1


def _time(machine, repeats, max_retimes, cpu=None):
  return timing.time_repeats(
    machine.work,
    repeats,
    threshold=0.2,
    max_retimes=max_retimes,
    clock=machine.clock,
    cpu=cpu or machine.cpu,
  )


def test_quiet_regions_are_kept_and_the_median_taken():
  machine = FakeMachine(durations=[3.0, 1.0, 2.0], others=[0.0, 0.1, 0.15])
  timing = _time(machine, repeats=3, max_retimes=3)
  assert timing.times == (3.0, 1.0, 2.0) and timing.seconds == 2.0
  assert timing.others_cores == pytest.approx((0.0, 0.1, 0.15))
  assert (timing.retimes, timing.contended, machine.calls) == (0, False, 3)


def test_contended_regions_are_timed_again_until_quiet():
  # Calls 0 and 2 ran while others used 1.5 cores: discarded and replaced by calls 1 and 3.
  machine = FakeMachine(durations=[9.0, 1.0, 9.0, 2.0], others=[1.5, 0.0, 1.5, 0.05])
  timing = _time(machine, repeats=2, max_retimes=3)
  assert timing.times == (1.0, 2.0) and timing.seconds == 1.5
  assert (timing.retimes, timing.contended, machine.calls) == (2, False, 4)


def test_contention_that_outlasts_the_budget_is_kept_and_flagged():
  machine = FakeMachine(durations=[5.0, 6.0, 7.0, 1.0], others=[1.0, 1.0, 1.0, 0.0])
  timing = _time(machine, repeats=2, max_retimes=2)
  # Calls 0 and 1 used the budget; call 2 (contended) and call 3 (quiet) are kept.
  assert timing.times == (7.0, 1.0) and timing.others_cores == pytest.approx((1.0, 0.0))
  assert (timing.retimes, timing.contended, machine.calls) == (2, True, 4)


def test_without_proc_nothing_is_retimed_or_flagged():
  machine = FakeMachine(durations=[1.0, 2.0], others=[5.0, 5.0])
  timing = _time(machine, repeats=2, max_retimes=3, cpu=lambda: None)
  assert timing.others_cores == (None, None)
  assert (timing.retimes, timing.contended) == (0, False)


def test_cpu_seconds_reads_this_process():
  busy0, own0 = timing.cpu_seconds()
  sum(i * i for i in range(3_000_000))  # ~0.2 s of this process's CPU
  busy1, own1 = timing.cpu_seconds()
  assert own1 - own0 > 0.05
  assert busy1 - busy0 >= own1 - own0 - 0.05  # the machine's busy time includes ours


def _records(peer_rates=(50.0, None), peer_step_s=2.0):
  setup = {
    "bench": "setup",
    "model": "m",
    "weights": "random",
    "params": 1e6,
    "repeats": 3,
    "cpu": "CPU X",
    "cores": 2,
    "commit": "abc1234",
    "date": "2026-01-01 00:00 UTC",
    "jax": "0",
  }
  noise = {"others_cores_max": 0.1, "retimes": 0, "contended": False}
  records = [
    setup,
    {"bench": "matmul_peak", "peer": "jax_rlvr", "size": 8, "gflops": 100.0, **noise},
  ]
  records[1]["compile_s"] = 0.1
  for batch, (ours, peer) in zip(
    (1, 8), ((120.0, peer_rates[0]), (400.0, peer_rates[1])), strict=True
  ):
    common_fields = {"bench": "sample", "batch": batch, "new_tokens": 4, **noise}
    records.append(
      {**common_fields, "peer": "jax_rlvr", "tokens_per_s": ours, "pct_peak": 3.0, "compile_s": 1.0}
    )
    if peer is not None:
      records.append(
        {
          **common_fields,
          "peer": "transformers",
          "tokens_per_s": peer,
          "pct_peak": 1.0,
          "warmup_s": 0.5,
          "contended": True,
        }
      )
  train = {"bench": "train_step", "rows": 2, "length": 16, "pct_peak": 10.0, **noise}
  for work, seconds in (("grpo_update", 4.0), ("fwd_bwd_adamw", 1.0)):
    records.append(
      {**train, "work": work, "peer": "jax_rlvr", "seconds": seconds, "tokens_per_s": 32 / seconds}
    )
    records[-1]["compile_s"] = 2.0
  if peer_step_s is not None:
    records.append(
      {
        **train,
        "work": "fwd_bwd_adamw",
        "peer": "torch",
        "seconds": peer_step_s,
        "tokens_per_s": 32 / peer_step_s,
        "warmup_s": 1.0,
      }
    )
  return records


def _row(table, prefix):
  rows = [ln for ln in table.splitlines() if ln.startswith(f"| {prefix}")]
  assert len(rows) == 1, (prefix, table)
  return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_table_has_every_row_and_ratios_from_the_records():
  table = markdown.markdown_table(_records())
  batch1 = _row(table, "sampling vs transformers `generate`, batch 1,")
  assert batch1[1:4] == ["120.0 tok/s", "50.0 tok/s", "2.40×"]
  assert batch1[-1] == "yes"  # the transformers region was contended
  batch8 = _row(table, "sampling vs transformers `generate`, batch 8,")
  assert batch8[1:4] == ["400.0 tok/s", "—", "—"]  # no peer record
  assert batch8[-1] == "no"
  # Seconds rows: the ratio is the peer's time over ours (both ran the same 32 tokens).
  assert _row(table, "GRPO update")[1:4] == ["4.000 s", "2.000 s", "0.50×"]
  assert _row(table, "fwd + bwd + AdamW")[1:4] == ["1.000 s", "2.000 s", "2.00×"]
  assert _row(table, "f32 matmul peak")[1] == "100.0 GFLOP/s"
  assert "CPU X, 2 cores; commit abc1234; 2026-01-01" in table
  assert _row(table, "sample transformers batch 1")[1] == "0.50"


def test_table_without_peers_shows_no_ratio():
  table = markdown.markdown_table(_records(peer_rates=(None, None), peer_step_s=None))
  assert _row(table, "GRPO update")[2:4] == ["—", "—"]
  assert not re.search(r"\d×", table)


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
  """A tiny random policy with a 4-token vocabulary whose config names an EOS: unforced, most
  rows would stop early."""
  path = str(tmp_path_factory.mktemp("ckpt"))
  policy = Policy(get_preset("tiny", vocab_size=4), rngs=nnx.Rngs(0))
  save_hf_checkpoint(policy, path, extra_config={"eos_token_id": 1, "bos_token_id": 2})
  return path


def _once(fn):
  return timing.time_repeats(fn, 1, max_retimes=0)


def test_jax_sampler_produces_every_requested_token(small_checkpoint):
  policy = load_hf_checkpoint(small_checkpoint)
  prompts_BP = np.random.default_rng(0).integers(0, 4, (2, 3))
  record = jax_side.jax_sample(policy, prompts_BP, 12, _once)
  assert (record["batch"], record["tokens"]) == (2, 24)
  assert record["tokens_per_s"] == pytest.approx(24 / record["seconds"])
  flops = 2 * count_params(policy) * 24  # 2·params per new token
  assert record["gflops"] == pytest.approx(flops / record["seconds"] / 1e9)


@pytest.fixture
def torch_one_thread():
  """torch with one intra-op thread: on a loaded 2-core machine its spinning thread pool makes a
  tiny model's many small ops wait for descheduled threads; counts do not depend on it."""
  torch = pytest.importorskip("torch")
  pytest.importorskip("transformers")
  threads = torch.get_num_threads()
  torch.set_num_threads(1)
  yield torch
  torch.set_num_threads(threads)


@pytest.mark.hf
def test_transformers_generate_produces_every_requested_token(small_checkpoint, torch_one_thread):
  torch_one_thread.manual_seed(0)
  model = torch_side.load_hf_model(small_checkpoint)
  assert model.config.eos_token_id == 1 and model.generation_config.eos_token_id is None
  prompts_BP = np.random.default_rng(0).integers(0, 4, (2, 3))
  record = torch_side.hf_sample(model, prompts_BP, 12, _once)
  assert (record["peer"], record["batch"], record["tokens"]) == ("transformers", 2, 24)


@pytest.mark.slow
def test_compare_runs_both_peers_on_the_same_work():
  config = common.base_config()
  config.rl.micro_batches = 1
  lines = []
  records = side_by_side.compare(
    config,
    model="tiny",
    batches=(2,),
    new_tokens=5,
    prompt_len=3,
    train_rows=2,
    train_len=8,
    repeats=1,
    matmul_size=64,
    bandwidth_mb=4,
    max_retimes=0,
    emit=lines.append,
  )
  assert lines == records
  assert [(r["bench"], r.get("peer")) for r in records[:3]] == [
    ("setup", None),
    ("matmul_peak", "jax_rlvr"),
    ("read_bandwidth", "jax_rlvr"),
  ]
  peak = records[1]["gflops"]
  samples = [r for r in records if r["bench"] == "sample"]
  steps = [r for r in records if r["bench"] == "train_step"]
  peers = torch_side.torch_available()
  assert [r["peer"] for r in samples] == ["jax_rlvr"] + ["transformers"] * peers
  assert all(r["tokens"] == 10 for r in samples)
  assert [(r["peer"], r["work"]) for r in steps] == [
    ("jax_rlvr", "grpo_update"),
    ("jax_rlvr", "fwd_bwd_adamw"),
  ] + [("torch", "fwd_bwd_adamw")] * peers
  assert all(r["tokens"] == 16 for r in steps)
  for r in samples + steps:
    assert r["pct_peak"] == pytest.approx(100 * r["gflops"] / peak)
  for r in samples:
    assert r["pct_roofline"] == pytest.approx(100 * r["tokens_per_s"] / r["roofline_tokens_per_s"])
  assert "| 2 | " in markdown.markdown_table(records).split("roofline")[-1]
  assert f"{records[0]['params'] / 1e6:.1f} M parameters" in markdown.markdown_table(records)


def test_compare_without_training_rows_measures_sampling_only():
  records = side_by_side.compare(
    common.base_config(),
    model="tiny",
    batches=(2,),
    new_tokens=3,
    prompt_len=2,
    train_rows=0,
    repeats=1,
    matmul_size=32,
    bandwidth_mb=4,
    max_retimes=0,
    peers=False,
  )
  assert [r["bench"] for r in records] == ["setup", "matmul_peak", "read_bandwidth", "sample"]
  assert "sampling vs transformers" in markdown.markdown_table(records)


def test_sampling_roofline_is_the_slower_of_weight_reads_and_compute():
  # 1e8 params: 0.4 GB of weights at 10 GB/s is 40 ms a step; 2e8 FLOPs per row at 100 GFLOP/s
  # is 2 ms a row. Batch 4: bound by the reads (100 tok/s); batch 64: by compute (500 tok/s).
  assert side_by_side.sampling_roofline(10**8, 4, 100.0, 10.0) == pytest.approx(100.0)
  assert side_by_side.sampling_roofline(10**8, 64, 100.0, 10.0) == pytest.approx(500.0)


@pytest.mark.slow
def test_single_library_update_runs_the_configs_batch_of_groups():
  config = common.base_config()
  config.rollout.prompts_per_step, config.rollout.max_new_tokens = 2, 3
  config.rl.micro_batches = 2
  record = single_library.update(config, "tiny", 4, _once)
  group_size = config.rollout.group_size
  # B = Q · G rows of P + N tokens, each a full training token.
  assert (record["rows"], record["length"]) == (2 * group_size, 7)
  assert record["tokens"] == 2 * group_size * 7
  assert (record["bench"], record["work"], record["model"]) == ("train_step", "grpo_update", "tiny")
  assert (record["micro_batches"], record["old_logp"]) == (2, config.rl.old_logp)
  assert record["params"] == count_params(Policy(get_preset("tiny"), rngs=nnx.Rngs(0)))
