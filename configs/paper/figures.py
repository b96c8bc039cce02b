"""Which runs each figure of the paper needs: the figure -> runs table of scripts/reproduce.py.

A run is named by its sweep (`SWEEP` / `sweep(scale)` of an experiment module below); the runner
(jax_rlvr/jobs/sweep.py) trains the runs a figure needs, the figure code (jax_rlvr/jobs/results.py)
draws them from their workdirs.
"""

import importlib

# configs/paper/<module>.py for each sweep.
MODULES = (
  "grpo",
  "clipping",
  "offpolicy",
  "data_diversity",
  "entropy_bonus",
  "adaptive_entropy",
  "clip_cov",
  "kl_cov",
  "entropy_adv",
  "rand_pos_clip",
  "adv_sign",
  "pos_adv_reweight",
)
# Runs with the same config as another: they read that run's workdir instead of training again.
ALIASES = {"offpolicy_n1": "grpo"}
_METHODS = [
  "grpo",
  "clip_higher",
  "ent_bonus_0.001",
  "ent_bonus_0.002",
  "ent_bonus_-0.001",
  "ada_ent_reg_0.2",
  "ada_ent_reg_init",
  "clip_cov",
  "kl_cov",
  "entropy_adv",
  "rand_pos_clip",
  "adv_nonneg_only",
  "adv_nonpos_only",
  "pos_adv_stage",
  "pos_adv_epoch",
  "pos_adv_entropy_guided",
]
# The clipping runs take N = 4 steps per rollout (configs/paper/clipping.py): GRPO at N = 4 is their
# reference.
_CLIPPING = ["offpolicy_n4", "clip_higher", "clip_lower", "clip_tighter", "clip_free"]
_OFFPOLICY = ["offpolicy_n1", "offpolicy_n2", "offpolicy_n4"]
FIGURES = {
  "clipping": _CLIPPING,
  "offpolicy": _OFFPOLICY,
  "diversity": None,  # the data_diversity sweep of the scale
  "entropy_vs_diversity": list(
    dict.fromkeys(["grpo", *_CLIPPING, *_OFFPOLICY[1:], "adv_nonneg_only", "adv_nonpos_only"])
  ),
  "calibration": ["grpo", "clip_higher", "adv_nonneg_only", "adv_nonpos_only"],
  "prompt_entropy": ["grpo", "clip_higher"],
  # The entropy-control methods (the one-sign ablations are in calibration and the table).
  "methods": [n for n in _METHODS if not n.startswith("adv_")],
  "table": _METHODS + ["clip_lower", "clip_tighter", "clip_free", "offpolicy_n2", "offpolicy_n4"],
}
# The real scale (SmolLM2-135M-Instruct on this CPU, ~25 min a run) runs the paper's central
# directions only: GRPO collapse, the one-sign ablations, Clip-Higher at N = 4, and the two
# controllers that hold entropy (δ = the starting entropy); calibration reuses runs of the others.
REAL_FIGURES = {
  "signs": ["grpo", "adv_nonneg_only", "adv_nonpos_only"],
  "clipping": ["offpolicy_n4", "clip_higher"],
  "methods": ["grpo", "ada_ent_reg_init", "pos_adv_entropy_guided"],
  "calibration": ["grpo", "adv_nonneg_only", "adv_nonpos_only", "clip_higher"],
}
REAL_FIGURES["table"] = list(dict.fromkeys(n for runs in REAL_FIGURES.values() for n in runs))
# The paper's regime on the real model (every run at N = 4, so GRPO is the clipping reference):
# the sign ablations, the clip factor, and the controllers with δ = 0.55 × the start.
REAL_OFFPOLICY_FIGURES = {
  "signs": ["grpo", "adv_nonneg_only", "adv_nonpos_only"],
  "clipping": ["grpo", "clip_higher", "clip_lower"],
  "methods": ["grpo", "ada_ent_reg_0.2", "pos_adv_entropy_guided", "clip_cov"],
  "calibration": ["grpo", "adv_nonneg_only", "adv_nonpos_only", "clip_higher"],
}
REAL_OFFPOLICY_FIGURES["table"] = list(
  dict.fromkeys(n for runs in REAL_OFFPOLICY_FIGURES.values() for n in runs)
)


def experiment(module: str):
  """The experiment module configs/paper/<module>.py."""
  return importlib.import_module(f"configs.paper.{module}")


def sweeps(scale: str) -> dict[str, tuple[str, dict]]:
  """{run name: (experiment module, overrides)} over all configs/paper sweeps."""
  out = {}
  for module in MODULES:
    for name, overrides in experiment(module).sweep(scale).items():
      out[name] = (module, overrides)
  return out


def figures_of(scale: str) -> dict:
  """{figure: run names} drawn at `scale` (the real scale has a smaller set)."""
  return {"real": REAL_FIGURES, "real_offpolicy": REAL_OFFPOLICY_FIGURES}.get(scale, FIGURES)


def figure_runs(figure: str, scale: str) -> list[str]:
  figures = figures_of(scale)
  if figure not in figures:
    raise ValueError(
      f"Unknown figure {figure!r} at scale {scale!r}; choose one of {sorted(figures)} or all."
    )
  if figure == "diversity":
    return list(experiment("data_diversity").sweep(scale))
  return list(figures[figure])


def run_arg(name: str, scale: str, smoke: bool) -> str:
  """The get_config argument of run `name`: "<scale>[,smoke],<name>"."""
  return f"{scale},{'smoke,' if smoke else ''}{name}"


def run_config(name: str, scale: str, smoke: bool):
  """The config run `name` trains with at `scale` (before a reproduction's own overrides)."""
  module, _ = sweeps(scale)[name]
  return experiment(module).get_config(run_arg(name, scale, smoke))


def initial_entropy_runs(module: str, scale: str) -> dict[str, float]:
  """{run: fraction} of `module`'s runs whose δ is that fraction of the measured starting entropy
  (its INITIAL_ENTROPY_RUNS)."""
  return getattr(experiment(module), "INITIAL_ENTROPY_RUNS", {}).get(scale, {})
