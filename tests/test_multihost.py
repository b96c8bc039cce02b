"""Two processes on 127.0.0.1 (4 fake CPU devices each) train like one process with 8."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from jax_rlvr import metric_writer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = [
  "--config",
  "configs/default.py:smoke",
  "--config.num_steps=2",
  "--config.rl.mini_batches=2",
  "--config.mesh.shape=(8,1,1)",
  "--config.rollout.prompts_per_step=8",
]


def _env(devices):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  return env


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _final_params(workdir):
  """Final parameters, read back in a fresh single-process interpreter with 8 devices."""
  code = (
    "import sys, numpy as np, jax; from configs import default; from jax_rlvr import train\n"
    "c = default.get_config('smoke'); c.num_steps = 2; c.rl.mini_batches = 2\n"
    "c.mesh.shape = (8, 1, 1); c.rollout.prompts_per_step = 8\n"
    f"t = train.Trainer(c, {workdir!r}); s = t.restore_or_init(); t.checkpointer.close()\n"
    "leaves = [np.asarray(x) for x in jax.tree.leaves(jax.device_get(s.params))]\n"
    f"np.savez({workdir!r} + '/final.npz', step=int(s.step), *leaves)\n"
  )
  subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(8), check=True, timeout=300)
  data = np.load(os.path.join(workdir, "final.npz"))
  return int(data["step"]), [data[f"arr_{i}"] for i in range(len(data.files) - 1)]


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
  single = str(tmp_path / "single")
  out = subprocess.run(
    [sys.executable, "scripts/train.py", *SMOKE, f"--workdir={single}"],
    cwd=REPO,
    env=_env(8),
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert out.returncode == 0, out.stderr[-3000:]

  multi = str(tmp_path / "multi")
  port = _free_port()
  procs = [
    subprocess.Popen(
      [
        sys.executable,
        "scripts/train.py",
        *SMOKE,
        f"--workdir={multi}",
        f"--coordinator_address=127.0.0.1:{port}",
        "--num_processes=2",
        f"--process_id={i}",
      ],
      cwd=REPO,
      env=_env(4),
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for i in range(2)
  ]
  results = [p.communicate(timeout=900) for p in procs]
  for p, (_, err) in zip(procs, results, strict=True):
    assert p.returncode == 0, err[-3000:]
  # Only process 0 prints the summary and writes metrics.
  assert "Finished" in results[0][0] and "Finished" not in results[1][0]

  ref = metric_writer.read_jsonl(os.path.join(single, "metrics.jsonl"))
  got = metric_writer.read_jsonl(os.path.join(multi, "metrics.jsonl"))
  assert [r["step"] for r in got] == [r["step"] for r in ref]
  for a, b in zip(ref, got, strict=True):
    for key in ("sft_loss", "entropy", "reward_mean", "response_length"):
      if key in a:
        assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (a["step"], key)
  step_a, params_a = _final_params(single)
  step_b, params_b = _final_params(multi)
  assert step_a == step_b
  for a, b in zip(params_a, params_b, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=5e-5)
