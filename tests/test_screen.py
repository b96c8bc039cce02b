"""The regime screen: its selection rule, and a screen of two toy candidates end to end."""

import dataclasses
import json
import os

import pytest

from configs import default as default_config
from configs.paper import screen as screen_config
from jax_rlvr import config_validation, tasks
from jax_rlvr.jobs import screen


def _record(name, mixed, neg4, pos4):
  held = {"N=4/neg": neg4, "N=4/pos": pos4, "N=1/neg": 0.0, "N=1/pos": 0.0}
  return {"candidate": name, "mixed_groups": mixed, "dH_heldout": held}


def test_choose_takes_the_largest_gap_among_candidates_that_meet_the_premise():
  records = [
    _record("no_signal", 0.2, 0.5, -0.5),  # the largest gap, but too few mixed groups
    _record("wrong_sign", 0.9, -0.01, -0.02),
    _record("small_gap", 0.5, 0.01, -0.01),
    _record("large_gap", 0.6, 0.02, -0.03),
  ]
  assert [screen.meets_premise(r) for r in records] == [False, False, True, True]
  chosen, meets = screen.choose(records)
  assert (chosen["candidate"], meets) == ("large_gap", True)


def test_choose_says_when_no_candidate_meets_the_premise():
  records = [_record("a", 0.5, -0.02, -0.03), _record("b", 0.7, -0.01, -0.03)]
  chosen, meets = screen.choose(records)
  assert (chosen["candidate"], meets) == ("b", False)
  chosen, meets = screen.choose([_record("c", 0.1, 0.1, -0.1), _record("d", 0.3, 0.1, -0.1)])
  assert (chosen["candidate"], meets) == ("d", False)


def test_every_candidate_config_validates():
  for name in screen_config.CANDIDATES:
    config = screen_config.candidate_config(name)
    config_validation.validate_config(config)
    assert config.rollout.temperature in (0.7, 1.0)
  with pytest.raises(ValueError, match="Unknown candidate"):
    screen_config.candidate_config("nope")


def _toy(temperature):
  c = default_config.get_config("smoke")
  c.rollout.temperature = temperature
  c.rl.old_logp = "recompute"
  return c


@pytest.mark.slow
def test_screen_writes_a_record_per_candidate_and_resumes(tmp_path, monkeypatch):
  """Two toy candidates (the smoke policy at T = 1 and 0.7): one JSON line each with the sign
  statistics and the probe's ΔH of every setting and sign; the table and figure; a second call
  screens nothing again. A candidate whose config is invalid stops the call before any screen.
  The untrained policy never answers right, so the task is graded by the response's length parity:
  groups with both signs."""
  parity = lambda responses, answers: [float(len(r) % 2) for r in responses]
  arithmetic = dataclasses.replace(tasks.TASKS["arithmetic"], grade=parity)
  monkeypatch.setitem(tasks.TASKS, "arithmetic", arithmetic)
  candidates = {"t1": _toy(1.0), "t07": _toy(0.7)}
  records = screen.screen(candidates, str(tmp_path), log=lambda _: None)
  assert [r["candidate"] for r in records] == ["t1", "t07"]
  lines = [json.loads(s) for s in open(tmp_path / "screen.jsonl")]
  assert [r["candidate"] for r in lines] == ["t1", "t07"]
  for r in records:
    assert set(r["dH_heldout"]) == {f"{s}/{g}" for s in ("N=1", "N=4") for g in screen.SIGNS}
    assert 0 < r["mixed_groups"] <= 1 and r["tokens_pos"] > 0 and r["tokens_neg"] > 0
    assert 0 <= r["confident_neg"] <= 1 and 0 < r["reward"] < 1
    # The held-out batch moves under every update, and one sign's update is not the other's.
    assert r["dH_heldout"]["N=4/pos"] != r["dH_heldout"]["N=4/neg"]
  assert records[0]["temperature"] == 1.0 and records[1]["temperature"] == 0.7
  assert os.path.exists(tmp_path / "screen.png")
  table = open(tmp_path / "screen.md").read()
  assert table.count("\n") == 4 and "| t07 | 0.7 |" in table

  def fail(*args, **kwargs):
    raise AssertionError("screened again")

  monkeypatch.setattr(screen, "screen_candidate", fail)
  assert screen.screen(candidates, str(tmp_path), log=lambda _: None) == records
  bad = _toy(1.0)
  bad.rollout.group_size = 0
  with pytest.raises(config_validation.ConfigError, match="group_size"):
    screen.screen({"new": _toy(1.0), "bad": bad}, str(tmp_path), log=lambda _: None)
  assert len(open(tmp_path / "screen.jsonl").readlines()) == 2
