"""Config files load by path from any working directory, without a `configs` package installed
(jax_rlvr/config_files.py), and the wheel holds the library only."""

import glob
import json
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest
from absl import flags

import jax_rlvr
from jax_rlvr import config_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.dirname(os.path.abspath(jax_rlvr.__file__))


def test_train_script_loads_a_paper_config_and_its_bases_from_elsewhere(tmp_path):
  """scripts/train.py's --config flag, in a Python that has jax_rlvr but no `configs` on its path
  (-S: no site-packages .pth files, so no editable install maps one), from another directory."""
  site = tmp_path / "site"
  site.mkdir()
  (site / "jax_rlvr").symlink_to(PACKAGE_DIR)
  paths = sysconfig.get_paths()
  env = dict(
    os.environ,
    JAX_PLATFORMS="cpu",
    PYTHONPATH=os.pathsep.join([str(site), paths["purelib"], paths["platlib"]]),
  )
  config = os.path.join(REPO, "configs", "paper", "clipping.py")
  driver = textwrap.dedent(f"""
    import importlib.util, json, runpy, sys
    assert importlib.util.find_spec("configs") is None, "configs is importable"
    sys.argv = [
      {os.path.join(REPO, "scripts", "train.py")!r},
      "--config={config}:toy,smoke,clip_higher",
      "--config.rl.eps_low=0.1",
      "--workdir=run",
    ]
    runpy.run_path(sys.argv[0])  # defines the script's flags; not run as __main__
    from absl import flags
    flags.FLAGS(sys.argv)
    config = flags.FLAGS.config
    from configs.paper import base
    from jax_rlvr import config_validation
    config_validation.validate_config(config, num_devices=base.num_devices(config))
    print(json.dumps({{
      "configs": sys.modules["configs"].__file__,
      "eps": [config.rl.eps_low, config.rl.eps_high],
      "mini_batches": config.rl.mini_batches,
      "lr": config.optim.learning_rate,
      "locked": config.is_locked,
    }}))
  """)
  out = subprocess.run(
    [sys.executable, "-S", "-c", driver],
    cwd=tmp_path,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 0, out.stderr[-3000:]
  got = json.loads(out.stdout.strip().splitlines()[-1])
  assert got["configs"] == os.path.join(REPO, "configs", "__init__.py")
  # clipping.py's clip_higher (ε_high 0.28 at N = 4) on base.py's toy scale (learning rate 3e-4),
  # with the command line's override, locked.
  assert got["eps"] == [0.1, 0.28] and got["mini_batches"] == 4 and got["lr"] == 3e-4
  assert got["locked"] is True


def _tree(root, top="exp", lr=0.5):
  """root/<top>/: a shared base and a run file in a subpackage that imports it."""
  (root / top / "runs").mkdir(parents=True)
  (root / top / "__init__.py").write_text("")
  (root / top / "runs" / "__init__.py").write_text("")
  (root / top / "shared.py").write_text(
    "import ml_collections\n\n\ndef base():\n"
    f"  return ml_collections.ConfigDict({{'lr': {lr}, 'steps': 10}})\n"
  )
  run = root / top / "runs" / "run.py"
  run.write_text(
    f"from {top} import shared\n\n\ndef get_config(arg=None):\n"
    "  c = shared.base()\n  c.steps = int(arg or 10)\n  return c\n"
  )
  return str(run)


@pytest.fixture
def forget_tree():
  """Drops the modules the test's config trees left in sys.modules."""
  before = set(sys.modules)
  yield
  for name in set(sys.modules) - before:
    if name.split(".")[0] in ("exp",):
      del sys.modules[name]


def test_a_tree_imports_under_its_own_names_and_two_trees_do_not_mix(
  tmp_path, monkeypatch, forget_tree
):
  run = _tree(tmp_path / "a")
  monkeypatch.chdir(tmp_path)
  assert config_files.package_path(run) == (str(tmp_path / "a"), ["exp", "runs", "run"])
  config = config_files.get_config(f"{run}:3")
  assert (config.lr, config.steps, config.is_locked) == (0.5, 3, False)
  module = config_files.load_module(run)
  assert module is sys.modules["exp.runs.run"] and module.shared is sys.modules["exp.shared"]
  # The flag: the default is parsed with its tree, overrides apply, a misspelt field is an error.
  # (ml_collections reads the overrides off sys.argv when it parses the config.)
  monkeypatch.setattr("sys.argv", ["tool", "--config.lr=0.25"])
  values = flags.FlagValues()
  holder = config_files.DEFINE_config_file("config", f"{run}:7", flag_values=values)
  values(["tool", "--config.lr=0.25"])
  assert (holder.value.lr, holder.value.steps, holder.value.is_locked) == (0.25, 7, True)
  with pytest.raises(AttributeError, match="Did you mean"):
    holder.value.lrr = 1.0
  # Another tree of the same name would mix with the first: refused, naming both.
  other = _tree(tmp_path / "b", lr=0.1)
  with pytest.raises(ImportError, match=re.escape(f"in {tmp_path / 'b'}, but")):
    config_files.get_config(other)
  with pytest.raises(FileNotFoundError, match="No config file"):
    config_files.load_module(str(tmp_path / "a" / "exp" / "missing.py"))


def test_the_wheel_holds_the_library_only(tmp_path):
  # setuptools' own commands, every output under tmp_path: the checkout is left as it was.
  out = subprocess.run(
    [
      sys.executable,
      "setup.py",
      "-q",
      "egg_info",
      f"--egg-base={tmp_path}",
      "build",
      f"--build-base={tmp_path / 'build'}",
      "bdist_wheel",
      f"--bdist-dir={tmp_path / 'bdist'}",
      f"--dist-dir={tmp_path / 'dist'}",
    ],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 0, out.stderr[-3000:]
  (wheel,) = glob.glob(str(tmp_path / "dist" / "*.whl"))
  with zipfile.ZipFile(wheel) as f:
    names = f.namelist()
  top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
  assert top == {"jax_rlvr"}
  assert "jax_rlvr/config_files.py" in names and "jax_rlvr/cli/train.py" in names


def test_an_override_under_an_old_field_name_is_refused_with_the_new_name(monkeypatch):
  default = os.path.join(REPO, "configs", "default.py")
  argv = ["train", f"--config={default}:smoke", "--config.rl.lambda_step=0.1"]
  assert config_files.renamed_overrides("config", argv) == [
    "--config.rl.lambda_step -> --config.rl.pos_weight_step"
  ]
  monkeypatch.setattr(sys, "argv", argv)
  flag_values = flags.FlagValues()
  config_files.DEFINE_config_file("config", flag_values=flag_values)
  with pytest.raises(flags.IllegalFlagValueError, match="use: --config.rl.lambda_step -> "):
    flag_values(argv)
  current = ["train", f"--config={default}:smoke", "--config.rl.pos_weight_step=0.1"]
  monkeypatch.setattr(sys, "argv", current)
  flag_values = flags.FlagValues()
  config_files.DEFINE_config_file("config", flag_values=flag_values)
  flag_values(current)
  assert flag_values.config.rl.pos_weight_step == 0.1
