"""The train state, its optimiser, and reading a run's parameters back from its checkpoints.

`TrainState` is the one pytree a run checkpoints; `init_state` makes it born sharded on the mesh.
`restore_params(config, workdir, mesh)` reads the newest readable checkpoint of a run without side
effects: no file of the run is written, moved or prepared (evaluation, embeddings of a trained
policy, the fault drill's comparisons).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx, struct
from jax.sharding import Mesh

from jax_rlvr import checkpointing, components, lr_schedules, sharding
from jax_rlvr import rl_step as rl_step_lib
from jax_rlvr.rl import controllers as controllers_lib

# Keys of the state renamed since checkpoints were first written, old -> current (restored from
# older checkpoints by checkpointing.Checkpointer): the entropy-guided λ was `lam`.
RENAMED_KEYS = {"lam": "pos_weight"}


@struct.dataclass
class TrainState:
  """Everything a resumed run needs on the device side (the data position is in `meta`)."""

  step: jax.Array  # int32 scalar: steps done (warm-up + GRPO)
  params: nnx.State
  opt_state: optax.OptState
  key: jax.Array  # uint32 key data; step keys are fold_in(key, step)
  controllers: controllers_lib.Controllers
  ref_params: nnx.State | None = None


def adamw(schedule: optax.Schedule, c: ml_collections.ConfigDict):
  """AdamW at the learning rate `schedule(count)` with global-norm gradient clipping (c: the
  config's optim section)."""
  return optax.chain(
    optax.clip_by_global_norm(c.grad_clip),
    optax.adamw(schedule, b1=c.b1, b2=c.b2, weight_decay=c.weight_decay),
  )


def make_optimizer(learning_rate: float, warmup_steps: int, c: ml_collections.ConfigDict):
  """`adamw` with linear warm-up to a constant rate (lr_schedules.warmup_schedule)."""
  return adamw(lr_schedules.warmup_schedule(learning_rate, warmup_steps), c)


def warmup_optimizer(config: ml_collections.ConfigDict):
  """The supervised warm-up's optimiser (its rate warms up over a tenth of its steps)."""
  return make_optimizer(
    config.warmup.learning_rate, max(config.warmup.steps // 10, 1), config.optim
  )


def rl_optimizer(config: ml_collections.ConfigDict):
  """The GRPO phase's optimiser (optim.*; its learning rate per update: lr_schedules)."""
  return adamw(lr_schedules.rl_schedule(config), config.optim)


def init_state(
  config: ml_collections.ConfigDict, params: nnx.State, optimizer, hp, mesh: Mesh
) -> TrainState:
  """The state of step 0 on `mesh`: Adam moments born with their parameters' shardings; scalars
  (step, counts, key, controllers) replicated. `hp`: the run's rl_step.RLHyperParams."""
  return sharding.on_mesh(
    TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      opt_state=sharding.init_optimizer_state(optimizer, params, mesh),
      key=jax.random.key_data(jax.random.key(config.seed)),
      controllers=controllers_lib.init_controllers(hp),
      ref_params=jax.tree.map(jnp.copy, params) if config.rl.kl_coef > 0 else None,
    ),
    mesh,
  )


def restore_state(
  config: ml_collections.ConfigDict, workdir: str, mesh: Mesh
) -> tuple[int, nnx.GraphDef, TrainState]:
  """(step, graphdef, state) of the newest readable checkpoint in `workdir`, sharded on `mesh`.

  Reads only: damaged checkpoints are skipped, not moved. Raises FileNotFoundError when the run
  has no checkpoint, checkpointing.CheckpointMismatchError when `config` builds another model.
  """
  tokenizer = components.build_tokenizer(config)
  graphdef, params = components.build_sharded_policy(config, tokenizer, mesh)
  # Both phases' optimisers have the same state structure; either gives the restore target.
  target = init_state(
    config, params, warmup_optimizer(config), rl_step_lib.RLHyperParams.from_config(config), mesh
  )
  checkpointer = checkpointing.Checkpointer(
    workdir, every=0, read_only=True, renamed_keys=RENAMED_KEYS
  )
  try:
    restored = checkpointer.restore_latest(target)
  finally:
    checkpointer.close()
  if restored is None:
    raise FileNotFoundError(
      f"No checkpoint in {checkpointer.directory}; train first with "
      f"scripts/train.py --workdir {workdir}."
    )
  step, state, _ = restored
  return step, graphdef, state


def restore_params(
  config: ml_collections.ConfigDict, workdir: str, mesh: Mesh
) -> tuple[int, nnx.GraphDef, nnx.State]:
  """(step, graphdef, params) of the newest readable checkpoint in `workdir` (see
  `restore_state`); merge the last two with nnx.merge for the policy."""
  step, graphdef, state = restore_state(config, workdir, mesh)
  return step, graphdef, state.params
