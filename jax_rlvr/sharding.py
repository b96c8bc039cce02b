"""Device mesh from the config, logical-axis rules -> NamedSharding, and start-up checks.

Mesh axes are ("data", "fsdp", "tensor"): the batch is split over data × fsdp, parameters are
split over fsdp (their `embed` dimension) and tensor (heads, mlp, vocab). A parameter dimension
that a mesh axis does not divide stays replicated along that axis (tiny vocabularies, say).
The rollout decodes with its own layout of the weights (DECODE_RULES: not split over fsdp).
"""

from __future__ import annotations

import math

import jax
import numpy as np
import optax
from absl import logging
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")
BATCH_AXES = ("data", "fsdp")

# Logical axis name -> mesh axis (or None: replicated). Names not listed are replicated.
LOGICAL_RULES = (
  ("batch", BATCH_AXES),
  ("vocab", "tensor"),
  ("embed", "fsdp"),
  ("mlp", "tensor"),
  ("heads", "tensor"),
  ("kv_heads", "tensor"),
  ("head_dim", None),
  ("length", None),
)

# The rollout's layout of the weights (rollout.decode_layout = "tensor"): the training rules with
# `embed` replicated over fsdp. Under LOGICAL_RULES every decode step all-gathers every weight
# over fsdp (the whole model's bytes per generated token); a decode step reads whole weights
# split over tensor only, and the fsdp axis still splits the rows. See `decode_shardings`.
DECODE_RULES = tuple((name, None if name == "embed" else axes) for name, axes in LOGICAL_RULES)
DECODE_LAYOUTS = ("tensor", "training")


def resolve_mesh_shape(shape, num_devices: int) -> tuple[int, ...]:
  """Replaces the one -1 in `shape` by what the other axes leave of `num_devices`."""
  shape = list(shape)
  if shape.count(-1) > 1:
    raise ValueError(f"mesh.shape={tuple(shape)} has more than one -1.")
  known = math.prod(s for s in shape if s != -1)
  if -1 in shape:
    if num_devices % known:
      raise ValueError(f"mesh.shape={tuple(shape)} does not divide {num_devices} devices.")
    shape[shape.index(-1)] = num_devices // known
  if math.prod(shape) > num_devices:
    raise ValueError(f"mesh.shape={tuple(shape)} needs more than the {num_devices} devices.")
  return tuple(shape)


def batch_devices(axis_sizes) -> int:
  """Devices a batch is split over: the product of the BATCH_AXES sizes in `axis_sizes` (a
  Mesh's `shape`, or any mapping from axis name to size with the -1 resolved)."""
  return math.prod(axis_sizes[a] for a in BATCH_AXES)


def make_mesh(shape=(-1, 1, 1), axes=MESH_AXES, devices=None) -> Mesh:
  """A mesh over `devices` (default: all) with Auto axes (so sharding constraints apply)."""
  devices = jax.devices() if devices is None else devices
  shape = resolve_mesh_shape(shape, len(devices))
  used = np.asarray(devices[: math.prod(shape)]).reshape(shape)
  return Mesh(used, tuple(axes), axis_types=(AxisType.Auto,) * len(axes))


def logical_to_spec(names, shape, mesh: Mesh, rules=LOGICAL_RULES) -> PartitionSpec:
  """PartitionSpec for an array whose dimensions carry logical `names`.

  A mesh axis is used at most once per array and only where it divides the dimension.
  """
  table = dict(rules)
  used, spec = set(), []
  for name, size in zip(names, shape, strict=True):
    axes = table.get(name)
    axes = (axes,) if isinstance(axes, str) else tuple(axes or ())
    axes = tuple(a for a in axes if a in mesh.shape and a not in used and mesh.shape[a] > 1)
    if axes and size % math.prod(mesh.shape[a] for a in axes) == 0:
      used.update(axes)
      spec.append(axes[0] if len(axes) == 1 else axes)
    else:
      spec.append(None)
  return PartitionSpec(*spec)


def constrain(x: jax.Array, names, rules=LOGICAL_RULES) -> jax.Array:
  """`x` pinned to the sharding its logical dimension `names` get on the mesh in context.

  The mesh is the one set by `jax.set_mesh` (the train loop and the memory plan set it while
  they trace); without one this is the identity, so model code also runs unsharded.
  """
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty:
    return x
  return jax.lax.with_sharding_constraint(x, logical_to_spec(names, x.shape, mesh, rules))


def state_shardings(abstract_state: nnx.State, mesh: Mesh, rules=LOGICAL_RULES):
  """NamedShardings for an NNX state whose Variables carry `out_sharding` logical names."""
  specs = nnx.get_partition_spec(abstract_state)

  def one(var_spec, var):
    names = var_spec.get_value() if isinstance(var_spec, nnx.Variable) else var_spec
    value = var.get_value() if isinstance(var, nnx.Variable) else var
    names = tuple(names) if names is not None else (None,) * len(value.shape)
    return NamedSharding(mesh, logical_to_spec(names, value.shape, mesh, rules))

  return jax.tree.map(
    one, specs, abstract_state, is_leaf=lambda x: isinstance(x, (nnx.Variable, PartitionSpec))
  )


def decode_shardings(params: nnx.State, mesh: Mesh):
  """NamedShardings of `params` (Variables carrying logical names) for decoding: DECODE_RULES.

  Resharded once per rollout, not per token (rollout/sampling.py `decode_params`). Cost: a copy
  of the weights in the compute dtype, split over tensor only, beside the training copy: per chip
  N·bytes(model.dtype)/tensor, against N·bytes(param_dtype)/(fsdp·tensor) for the training layout.
  Qwen2.5-Math-7B (7.62B parameters) in bfloat16 on v5p-64 (mesh 1x8x4) adds 15.2 GB / 4 =
  3.81 GB (3.55 GiB) of a chip's 95 GiB, beside its 0.95 GB of float32 training weights; the
  training layout instead gathers 3.3 GiB per chip per decode step (docs/benchmarks.md). It
  does not fit where that copy, the training state and the KV cache exceed a chip's HBM: with
  tensor 1 every chip holds the whole model (15.2 GB for 7B, more than a 16 GiB v5e chip);
  rollout.decode_layout = "training" then decodes in the training layout, gathering the weights
  over fsdp at every step.
  """
  return state_shardings(params, mesh, DECODE_RULES)


def batch_sharding(mesh: Mesh, ndim: int = 2) -> NamedSharding:
  """Leading (batch) dimension over data × fsdp, the rest replicated."""
  return NamedSharding(mesh, PartitionSpec(BATCH_AXES, *([None] * (ndim - 1))))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def log_shardings(params, *, log=logging.info) -> None:
  """One line per parameter: path, shape, dtype, PartitionSpec."""
  for path, x in jax.tree_util.tree_leaves_with_path(params):
    name = "/".join(str(getattr(p, "key", getattr(p, "idx", p))) for p in path)
    log(f"param {name:48s} {str(x.shape):22s} {x.dtype} {x.sharding.spec}")


def replicated_fraction(params) -> float:
  """Fraction of parameter bytes stored whole on every device of a multi-device mesh."""
  total = replicated_bytes = 0
  for x in jax.tree.leaves(params):
    total += x.nbytes
    if len(x.sharding.device_set) > 1 and x.sharding.is_fully_replicated:
      replicated_bytes += x.nbytes
  return replicated_bytes / max(total, 1)


def check_sharded(params, mesh: Mesh, *, max_replicated: float = 0.5) -> None:
  """Fails when most parameter bytes are replicated although the mesh shards parameters."""
  if mesh.shape.get("fsdp", 1) * mesh.shape.get("tensor", 1) == 1:
    return  # a pure data-parallel mesh replicates parameters by design
  frac = replicated_fraction(params)
  if frac > max_replicated:
    raise ValueError(
      f"{frac:.0%} of parameter bytes are replicated on mesh {dict(mesh.shape)}; check the "
      "logical axis rules (jax_rlvr.sharding.LOGICAL_RULES) and that dimensions divide the axes."
    )


def on_mesh(tree, mesh: Mesh):
  """Replicates onto `mesh` every array not already laid out on it by a NamedSharding (e.g. the
  scalar step counts an optimiser init creates on one device). Keeping every leaf a
  NamedSharding of `mesh` means jitted steps see the same shardings on every call."""
  target = replicated(mesh)

  def put(x):
    on = isinstance(x.sharding, NamedSharding) and x.sharding.mesh == mesh
    return x if on else jax.device_put(x, target)

  return jax.tree.map(put, tree)


def host_batch_to_global(mesh: Mesh, tree):
  """Process-local batches (each process's share, stacked in process order) -> global arrays
  with the batch dimension over data × fsdp. With one process this is a plain device_put."""

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_process_local_data(batch_sharding(mesh, x.ndim), x)

  return jax.tree.map(put, tree)


def host_replicated_to_global(mesh: Mesh, tree):
  """Host data that every process holds in full -> arrays replicated over the mesh."""
  target = replicated(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(target, np.asarray(x)), tree)


def global_batch_to_host(tree):
  """The rows of batch-sharded global arrays that live on this process, as NumPy (the inverse
  of `host_batch_to_global`; all rows with one process)."""

  def local(x):
    if x.ndim == 0 or x.is_fully_addressable:
      return np.asarray(x)
    rows = {}
    for shard in x.addressable_shards:
      start = shard.index[0].start or 0
      rows.setdefault(start, np.asarray(shard.data))
    return np.concatenate([rows[k] for k in sorted(rows)], axis=0)

  return jax.tree.map(local, tree)


def global_to_host(tree):
  """Full values of global arrays on every process (an all-gather across processes)."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  from jax.experimental import multihost_utils

  return multihost_utils.process_allgather(tree, tiled=True)


def constrain_batch(tree, *, mesh: Mesh):
  """Inside jit: arrays split over data × fsdp on their leading dimension, scalars replicated."""
  return jax.tree.map(
    lambda x: jax.lax.with_sharding_constraint(
      x, batch_sharding(mesh, x.ndim) if x.ndim else replicated(mesh)
    ),
    tree,
  )


def init_optimizer_state(optimizer, params, mesh: Mesh):
  """optimizer.init(params) born sharded: per-parameter state (Adam moments) like its parameter,
  everything else (step counts) replicated. Left to itself, jit puts the moments on one device."""
  abstract = jax.eval_shape(optimizer.init, params)
  shardings = optax.tree_utils.tree_map_params(
    optimizer,
    lambda _, param_sharding: param_sharding,
    abstract,
    jax.tree.map(lambda x: x.sharding, params),
    transform_non_params=lambda _: replicated(mesh),
  )
  return jax.jit(optimizer.init, out_shardings=shardings)(params)
