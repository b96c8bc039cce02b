"""The package's import graph: no circle, and every import goes to the same floor or one below.

Imports inside functions count: a lazy import that runs back up a floor is still one.
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
    "jax_rlvr.compile_options",
    "jax_rlvr.accelerators",
    "jax_rlvr.sharding",
    "jax_rlvr.distributed",
    "jax_rlvr.metric_writer",
    "jax_rlvr.checkpointing",
    "jax_rlvr.plotting",
    "jax_rlvr.models",
    "jax_rlvr.data",
    "jax_rlvr.rewards",
    "jax_rlvr.rl",
    "jax_rlvr.metrics",
  ),
  # Jitted programs on a policy: sampling, the GRPO update, the entropy probe.
  ("jax_rlvr.sampling", "jax_rlvr.rl_step", "jax_rlvr.probe"),
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


def test_find_cycle_and_floor_of():
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
  assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
  assert floor_of("jax_rlvr.rl.losses") == 0 < floor_of("jax_rlvr.jobs.entropy_probe")
  with pytest.raises(KeyError, match="on no floor"):
    floor_of("jax_rlvr.nowhere")


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
