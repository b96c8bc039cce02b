"""The package's import graph: no circle, and every import goes to the same floor or one below.

Imports inside functions count: a lazy import that runs back up a floor is still one. The library
stands alone: it never imports the top-level `configs` package (config files are loaded by path,
jax_rlvr/config_files.py) and never runs a file of scripts/ (it runs `python -m jax_rlvr.cli.*`).
"""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Floors, lowest first (module-name prefixes). A module may import its own floor and those below.
FLOORS = (
  # Array, data, model and I/O libraries: nothing here knows of a run.
  (
    "jax_rlvr.config_fields",
    "jax_rlvr.config_files",
    "jax_rlvr.lr_schedules",
    "jax_rlvr.compile_options",
    "jax_rlvr.accelerators",
    "jax_rlvr.sharding",
    "jax_rlvr.distributed",
    "jax_rlvr.metric_writer",
    "jax_rlvr.run_summary",
    "jax_rlvr.checkpointing",
    "jax_rlvr.plotting",
    "jax_rlvr.models",
    "jax_rlvr.data",
    "jax_rlvr.rewards",
    "jax_rlvr.rl",
    "jax_rlvr.metrics",
  ),
  # Programs on a policy: the rollout engines, the GRPO update, the entropy probe.
  ("jax_rlvr.rollout", "jax_rlvr.rl_step", "jax_rlvr.probe"),
  # Run assembly: tasks, config checks, the run's pieces, the train state and its restore.
  ("jax_rlvr.tasks", "jax_rlvr.config_validation", "jax_rlvr.components", "jax_rlvr.train_state"),
  ("jax_rlvr.evaluate",),
  ("jax_rlvr.train",),
  # Jobs the scripts run on top of training and evaluation.
  (
    "jax_rlvr.jobs",
    "jax_rlvr.fault_drill",
    "jax_rlvr.memory_plan",
    "jax_rlvr.benchmarks",
  ),
  # Command lines the jobs run in processes of their own.
  ("jax_rlvr.cli",),
)

# Inside a floor, modules that split one job into steps keep their own order, lowest first: a
# module may import the modules before it in its chain, never one after it.
CHAINS = (
  (
    "jax_rlvr.data.local_files",
    "jax_rlvr.data.raw_records",
    "jax_rlvr.data.math_parsing",
    "jax_rlvr.data.math_splits",
    "jax_rlvr.data.math_builders",
    "jax_rlvr.data.math_report",
  ),
  (
    "jax_rlvr.benchmarks.timing",
    "jax_rlvr.benchmarks.jax_side",
    "jax_rlvr.benchmarks.torch_side",
    "jax_rlvr.benchmarks.markdown",
    "jax_rlvr.benchmarks.side_by_side",
    "jax_rlvr.benchmarks.single_library",
  ),
)


def _modules() -> dict[str, str]:
  out = {}
  for directory, _, files in os.walk(os.path.join(REPO, "jax_rlvr")):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(directory, name)
        module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
        out[module.removesuffix(".__init__")] = path
  return out


def import_graph() -> dict[str, set[str]]:
  """{module: the package modules it imports anywhere in its source} (from-imports of a name
  that is a module count as that module)."""
  modules = _modules()
  graph = {}
  for module, path in modules.items():
    with open(path) as f:
      tree = ast.parse(f.read())
    targets = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        targets.update(a.name for a in node.names)
      elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        for a in node.names:
          full = f"{node.module}.{a.name}"
          targets.add(full if full in modules else node.module)
    graph[module] = {t for t in targets if t in modules and t != module}
  return graph


def _docstrings(tree: ast.AST) -> set[int]:
  """ids of the docstring nodes of `tree`."""
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
      body = node.body
      if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        out.add(id(body[0].value))
  return out


def configs_imports(source: str) -> list[str]:
  """The imports of the top-level `configs` package in `source`: import statements, and
  importlib.import_module / __import__ of a literal name."""
  out = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      names = [node.module]
    elif (
      isinstance(node, ast.Call)
      and getattr(node.func, "attr", getattr(node.func, "id", None))
      in ("import_module", "__import__")
      and node.args
      and isinstance(node.args[0], ast.Constant)
    ):
      names = [str(node.args[0].value)]
    else:
      continue
    out += [n for n in names if n == "configs" or n.startswith("configs.")]
  return out


def _starts_processes(tree: ast.AST) -> bool:
  for node in ast.walk(tree):
    if isinstance(node, ast.Import) and any(a.name == "subprocess" for a in node.names):
      return True
    if isinstance(node, ast.ImportFrom) and node.module == "subprocess":
      return True
    if (
      isinstance(node, ast.Attribute)
      and getattr(node.value, "id", None) == "os"
      and node.attr.startswith(("system", "popen", "exec", "spawn", "posix_spawn"))
    ):
      return True
  return False


def scripts_in_commands(source: str) -> list[str]:
  """The string literals of a module that starts processes that name the scripts/ directory
  (docstrings aside): wherever it builds a command line, it would run a script."""
  tree = ast.parse(source)
  if not _starts_processes(tree):
    return []
  skip = _docstrings(tree)
  return [
    node.value
    for node in ast.walk(tree)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    if node.value == "scripts" or "scripts/" in node.value
  ]


def floor_of(module: str) -> int:
  for index, prefixes in enumerate(FLOORS):
    if any(module == p or module.startswith(p + ".") for p in prefixes):
      return index
  raise KeyError(f"{module} is on no floor: add it to FLOORS in tests/test_layers.py.")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
  """One import circle as [a, b, ..., a], or None."""
  state, stack = {}, []

  def visit(u):
    state[u] = "open"
    stack.append(u)
    for v in sorted(graph[u]):
      if state.get(v) == "open":
        return stack[stack.index(v) :] + [v]
      if v not in state and (cycle := visit(v)):
        return cycle
    stack.pop()
    state[u] = "done"
    return None

  for module in sorted(graph):
    if module not in state and (cycle := visit(module)):
      return cycle
  return None


def chain_violations(graph: dict[str, set[str]], chains=CHAINS) -> list[str]:
  """Imports from a module to one later in its chain."""
  return [
    f"{module} imports {target}, later in its chain"
    for chain in chains
    for index, module in enumerate(chain)
    for target in sorted(graph.get(module, ()))
    if target in chain[index + 1 :]
  ]


def test_find_cycle_and_floor_of():
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
  assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
  assert floor_of("jax_rlvr.rl.losses") == 0 < floor_of("jax_rlvr.jobs.entropy_probe")
  with pytest.raises(KeyError, match="on no floor"):
    floor_of("jax_rlvr.nowhere")


def test_configs_imports_and_scripts_in_commands_find_what_they_look_for():
  assert configs_imports(
    "import configs\nfrom configs.paper import base\nimport configsx\n"
    "def f():\n  return importlib.import_module('configs.paper.grpo')\n"
  ) == ["configs", "configs.paper", "configs.paper.grpo"]
  assert configs_imports("from jax_rlvr import config_files\nimport configsx\n") == []
  sweep = (
    '"""Runs scripts/train.py."""\nimport os, subprocess, sys\n'
    "cmd = [sys.executable, os.path.join(ROOT, 'scripts', 'train.py')]\n"
    "drill = [sys.executable, f'scripts/train.py', '--config']\n"
  )
  assert scripts_in_commands(sweep) == ["scripts", "scripts/train.py"]
  # A message that names a script is no command where nothing starts a process.
  assert scripts_in_commands("msg = 'run scripts/train.py --workdir DIR'\n") == []
  module = "import subprocess\ncmd = [sys.executable, '-m', 'jax_rlvr.cli.train']\n"
  assert scripts_in_commands(module) == []


def test_the_library_never_imports_configs_nor_runs_scripts():
  found = []
  for module, path in sorted(_modules().items()):
    with open(path) as f:
      source = f.read()
    found += [f"{module} imports {name}" for name in configs_imports(source)]
    found += [f"{module} runs {text!r}" for text in scripts_in_commands(source)]
  assert found == []


def test_package_has_no_import_circle():
  assert find_cycle(import_graph()) is None


def test_no_import_runs_up_a_floor():
  upward = [
    f"{module} (floor {floor_of(module)}) imports {target} (floor {floor_of(target)})"
    for module, targets in sorted(import_graph().items())
    for target in sorted(targets)
    if floor_of(target) > floor_of(module)
  ]
  assert upward == []


def test_chains_exist_and_import_only_backwards():
  graph = import_graph()
  assert [m for chain in CHAINS for m in chain if m not in graph] == []
  assert chain_violations({"a": {"b"}, "b": set()}, (("a", "b"),)) == [
    "a imports b, later in its chain"
  ]
  assert chain_violations(graph) == []
