"""Per-device memory of a config's RL update and sampler, from XLA's compiled memory analysis.

Nothing is materialised: parameters are `nnx.eval_shape`d, the optimiser state is `jax.eval_shape`d,
and every input is a `jax.ShapeDtypeStruct` carrying the NamedSharding the train loop gives it
(parameters by their logical axis names, the rollout batch over data × fsdp, scalars replicated).
The two programs of a GRPO iteration are lowered and compiled for the config's mesh exactly as the
train loop jits them (with the mesh set, so the policy's activations are pinned to the batch
sharding):

  rl_update  `rl_step.update_on_rollout` (old log-probs, mini_batches × epochs gradient steps,
             controllers) with the parameters, optimiser state and controllers donated;
  generate   `static.generate` (prefill + KV-cache decode loop) for Q prompts × G samples.

`compiled.memory_analysis()` then gives the per-device sizes of the arguments, outputs,
temporaries, generated code and aliased (donated) buffers. Arguments (parameters, optimiser state,
rollout) follow from the shardings alone and carry over to any backend. Temporaries come from the
CPU compiler's buffer assignment, which differs from the TPU and GPU compilers': it computes
bfloat16 matmuls in float32, materialises transposes that TPU fusions avoid, and schedules with a
simpler heuristic. Run it with XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false
(scripts/memory_plan.py does): the default CPU scheduler favours parallelism and keeps
rematerialised activations alive, so `model.remat` would not show at all. Temporaries are a plan,
typically pessimistic for the same program on a TPU or GPU, not a guarantee.

Compiling a 28-layer model takes about two minutes on two cores; `num_layers` compiles a shallower
copy, and `extrapolate` fits size = a + b·L through two such measurements (every block adds the
same parameters, optimiser state and saved activations) and evaluates it at the full depth. Rows
say whether they were measured or extrapolated. The buffer assignment is not linear in depth:
against full-depth compiles the extrapolation was up to 39% low for the update and up to 56% low
for the sampler, so use it to compare settings and measure the chosen one at full depth.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G samples per prompt, B = Q·G rows,
P prompt tokens, Y response tokens, L layers.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import time

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from jax_rlvr import components, rl_step, sharding, train_state
from jax_rlvr.models import Policy, count_params, get_preset
from jax_rlvr.models.config import ModelConfig
from jax_rlvr.rl import controllers as controllers_lib
from jax_rlvr.rollout import sampling, static

GIB = 1024**3
PROGRAMS = ("rl_update", "generate")
# Fields of `compiled.memory_analysis()` reported per device, and their column names.
_FIELDS = {
  "argument": "argument_size_in_bytes",
  "output": "output_size_in_bytes",
  "temp": "temp_size_in_bytes",
  "code": "generated_code_size_in_bytes",
  "alias": "alias_size_in_bytes",
}


@dataclasses.dataclass
class MemoryStats:
  """Per-device bytes of one compiled program.

  total = argument + output + temp + code - alias: donated inputs (alias) share their buffer with
  an output, so they count once. `compile_s` is lowering + compilation time (0 if extrapolated).
  """

  program: str
  mesh_shape: tuple[int, ...]
  num_layers: int
  argument: int
  output: int
  temp: int
  code: int
  alias: int
  compile_s: float
  source: str = "measured"  # or "extrapolated from L=a,b"

  @property
  def total(self) -> int:
    return self.argument + self.output + self.temp + self.code - self.alias

  def as_dict(self) -> dict:
    return dict(dataclasses.asdict(self), total=self.total)


def model_config(config: ml_collections.ConfigDict, num_layers: int | None = None) -> ModelConfig:
  """The policy's shapes: `model.preset` (which must match `model.hf_checkpoint`, whose files are
  not read) with the config's dtypes and run choices, optionally with fewer layers."""
  m = config.model
  overrides = dict(dtype=m.dtype, param_dtype=m.param_dtype, **components.run_choices(m))
  if num_layers is not None:
    overrides["num_layers"] = num_layers
  return get_preset(m.preset, **overrides)


def _with_shardings(abstract, shardings):
  """ShapeDtypeStructs (inside their nnx Variables) carrying `shardings`."""

  def one(s, var):
    value = var.get_value()
    return var.replace(jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=s))

  return jax.tree.map(one, shardings, abstract, is_leaf=lambda x: isinstance(x, nnx.Variable))


def abstract_params(cfg: ModelConfig, mesh) -> tuple[nnx.GraphDef, nnx.State]:
  """(graphdef, params) with ShapeDtypeStruct leaves sharded by their logical axis names."""
  graphdef, abstract = nnx.split(nnx.eval_shape(lambda: Policy(cfg, rngs=nnx.Rngs(0))))
  return graphdef, _with_shardings(abstract, sharding.state_shardings(abstract, mesh))


def num_params(cfg: ModelConfig) -> int:
  """Parameter count of a policy, from its abstract shapes (nothing allocated)."""
  return count_params(nnx.eval_shape(lambda: Policy(cfg, rngs=nnx.Rngs(0))))


def _sds(shape, dtype, sharding_):
  return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding_)


def _abstract_key(mesh):
  key = jax.eval_shape(lambda: jax.random.key(0))
  return _sds(key.shape, key.dtype, sharding.replicated(mesh))


def abstract_rollout(config: ml_collections.ConfigDict, mesh) -> sampling.SampleOutput:
  """A SampleOutput of B = Q·G rows split over data × fsdp, as the train loop reshards it."""
  r = config.rollout
  B, P, Y = r.prompts_per_step * r.group_size, config.data.max_prompt_len, r.max_new_tokens
  rows = lambda *shape, dtype: _sds(shape, dtype, sharding.batch_sharding(mesh, len(shape)))
  return sampling.SampleOutput(
    prompt_tokens_BP=rows(B, P, dtype=jnp.int32),
    prompt_mask_BP=rows(B, P, dtype=jnp.int32),
    response_tokens_BY=rows(B, Y, dtype=jnp.int32),
    response_mask_BY=rows(B, Y, dtype=jnp.int32),
    sample_logp_BY=rows(B, Y, dtype=jnp.float32),
    policy_logp_BY=rows(B, Y, dtype=jnp.float32),
    entropy_BY=rows(B, Y, dtype=jnp.float32),
    sample_entropy_BY=rows(B, Y, dtype=jnp.float32),
    lengths_B=rows(B, dtype=jnp.int32),
    finished_B=rows(B, dtype=jnp.bool_),
    num_steps=_sds((), jnp.int32, sharding.replicated(mesh)),
  )


def _abstract_opt_state(optimizer, params, mesh):
  """The optimiser state's shapes: every copy of the parameter tree in it (Adam moments) with the
  parameters' shardings, everything else (step counts) replicated.

  This is the layout the train loop intends ("Adam moments are born with their parameters'
  shardings"); note that a plain jax.jit(optimizer.init) does not give it, because zeros_like
  does not carry its input's sharding.
  """
  shapes = jax.eval_shape(optimizer.init, params)
  return optax.tree_utils.tree_map_params(
    optimizer,
    lambda x, p: _sds(x.shape, x.dtype, p.sharding),
    shapes,
    params,
    transform_non_params=lambda x: _sds(x.shape, x.dtype, sharding.replicated(mesh)),
  )


def _replicated_tree(tree, mesh):
  return jax.tree.map(lambda x: _sds(x.shape, x.dtype, sharding.replicated(mesh)), tree)


def _timed_compile(mesh, jitted, *args, **kwargs):
  """Lowers with `mesh` set, as the train loop traces (this turns on the policy's activation
  sharding), and compiles; returns (compiled, seconds)."""
  start = time.perf_counter()
  with jax.set_mesh(mesh):
    lowered = jitted.lower(*args, **kwargs)
  compiled = lowered.compile()
  return compiled, time.perf_counter() - start


def compile_rl_update(config: ml_collections.ConfigDict, mesh, num_layers: int | None = None):
  """Compiles `rl_step.update_on_rollout` as train.py jits it; returns (compiled, seconds)."""
  cfg = model_config(config, num_layers)
  graphdef, params = abstract_params(cfg, mesh)
  hp = rl_step.RLHyperParams.from_config(config)
  optimizer = train_state.make_optimizer(
    config.optim.learning_rate, config.optim.warmup_steps, config.optim
  )
  opt_state = _abstract_opt_state(optimizer, params, mesh)
  controllers = _replicated_tree(jax.eval_shape(lambda: controllers_lib.init_controllers(hp)), mesh)
  ref_params = params if config.rl.kl_coef > 0 else None
  rollout = abstract_rollout(config, mesh)
  B = config.rollout.prompts_per_step * config.rollout.group_size
  rewards_B = _sds((B,), jnp.float32, sharding.batch_sharding(mesh, 1))
  shardings_of = lambda tree: jax.tree.map(lambda x: x.sharding, tree)
  update = rl_step.jit_update(
    graphdef,
    optimizer,
    hp,
    out_shardings=(shardings_of(params), shardings_of(opt_state), shardings_of(controllers), None),
    donate=True,
    platform=_platform(mesh),
  )
  args = (params, opt_state, controllers, ref_params, rollout, rewards_B, _abstract_key(mesh))
  return _timed_compile(mesh, update, *args)


def _platform(mesh) -> str:
  return mesh.devices.flat[0].platform


def compile_generate(
  config: ml_collections.ConfigDict, mesh, num_layers: int | None = None, evaluation=False
):
  """Compiles `static.generate` for one rollout batch (with `evaluation`, one eval batch:
  eval.batch_prompts prompts × eval.k samples, replicated as the eval loop passes them); returns
  (compiled, seconds).

  The EOS id only decides when rows stop, not any shape, so a placeholder is used. Without a
  backward pass `model.remat` changes nothing but the trace, so the sampler is compiled without
  it (the policy skips remat whenever it decodes with a KV cache).
  """
  cfg = model_config(config, num_layers).replace(remat=False)
  graphdef, params = abstract_params(cfg, mesh)
  r = config.rollout
  # No tokenizer here: any id stands for EOS, the compiled program is the same.
  sampling_config = components.sampling_config(
    config, eos_ids=(cfg.vocab_size - 1,), pad_id=0, evaluation=evaluation
  )
  Q = config.eval.batch_prompts if evaluation else r.prompts_per_step
  # As the train loop passes them: split over the batch axes, or replicated where they do not
  # divide (a single process replicates a small batch; eval prompts are always replicated).
  split = not evaluation and Q % sharding.batch_devices(mesh.shape) == 0
  layout = sharding.batch_sharding(mesh) if split else sharding.replicated(mesh)
  prompts = _sds((Q, config.data.max_prompt_len), jnp.int32, layout)
  key = _abstract_key(mesh)
  return _timed_compile(
    mesh,
    static.generate,
    graphdef,
    params,
    prompts,
    prompts,
    key,
    sampling_config,
    decode_layout=r.decode_layout,
  )


def compile_prompt_entropy(config: ml_collections.ConfigDict, mesh, num_layers: int | None = None):
  """Compiles eval's prompt-entropy forward pass (one eval batch of prompts, replicated);
  returns (compiled, seconds)."""
  from jax_rlvr import evaluate

  cfg = model_config(config, num_layers).replace(remat=False)
  graphdef, params = abstract_params(cfg, mesh)
  prompts = _sds(
    (config.eval.batch_prompts, config.data.max_prompt_len), jnp.int32, sharding.replicated(mesh)
  )
  return _timed_compile(mesh, evaluate.next_token_entropy, graphdef, params, prompts, prompts)


_COMPILERS = {
  "rl_update": compile_rl_update,
  "generate": compile_generate,
  "eval_generate": functools.partial(compile_generate, evaluation=True),
  "prompt_entropy": compile_prompt_entropy,
}


def measure(
  config: ml_collections.ConfigDict,
  mesh,
  program: str,
  num_layers: int | None = None,
) -> MemoryStats:
  """Compiles `program` (a key of _COMPILERS) for `mesh`; returns its per-device sizes."""
  return measure_with_cost(config, mesh, program, num_layers)[0]


def measure_with_cost(
  config: ml_collections.ConfigDict, mesh, program: str, num_layers: int | None = None
) -> tuple[MemoryStats, dict]:
  """`measure`, and the compiled program's `cost_analysis()` (a loop's body counted once)."""
  if program not in _COMPILERS:
    raise ValueError(f"Unknown program {program!r}; choose one of {sorted(_COMPILERS)}.")
  compiled, seconds = _COMPILERS[program](config, mesh, num_layers)
  cost = compiled.cost_analysis()
  cost = (cost[0] if isinstance(cost, list | tuple) else cost) or {}
  return _memory_stats(config, mesh, program, num_layers, compiled, seconds), dict(cost)


def _memory_stats(config, mesh, program, num_layers, compiled, seconds) -> MemoryStats:
  analysis = compiled.memory_analysis()
  return MemoryStats(
    program=program,
    mesh_shape=tuple(mesh.devices.shape),
    num_layers=model_config(config, num_layers).num_layers,
    compile_s=round(seconds, 1),
    source="measured",
    **{name: int(getattr(analysis, attr)) for name, attr in _FIELDS.items()},
  )


def extrapolate(a: MemoryStats, b: MemoryStats, num_layers: int) -> MemoryStats:
  """Linear extrapolation in depth: size(L) = size(a) + (L - L_a)·(size(b) - size(a))/(L_b - L_a),
  field by field, from two measurements of the same program and mesh at depths L_a < L_b."""
  same = a.program == b.program and a.mesh_shape == b.mesh_shape and a.source == b.source
  if not same or a.num_layers >= b.num_layers:
    raise ValueError("Extrapolate from two depths L_a < L_b of one program and mesh.")
  t = (num_layers - a.num_layers) / (b.num_layers - a.num_layers)
  line = lambda name: round(getattr(a, name) + t * (getattr(b, name) - getattr(a, name)))
  return MemoryStats(
    program=a.program,
    mesh_shape=a.mesh_shape,
    num_layers=num_layers,
    compile_s=0.0,
    source=f"extrapolated from L={a.num_layers},{b.num_layers}",
    **{name: line(name) for name in _FIELDS},
  )


def plan(
  config: ml_collections.ConfigDict,
  mesh,
  programs=PROGRAMS,
  fit_layers: tuple[int, int] | None = None,
  log=print,
) -> list[MemoryStats]:
  """Per-device memory of each program at the config's full depth.

  With `fit_layers=(L_a, L_b)` the programs are compiled at those two depths only and the full
  depth is extrapolated (both measurements are returned too); otherwise the full model is compiled.
  """
  full_depth = model_config(config).num_layers
  rows = []
  for program in programs:
    if fit_layers is None:
      rows.append(measure(config, mesh, program))
      log(json.dumps(rows[-1].as_dict()))
      continue
    points = []
    for depth in fit_layers:
      points.append(measure(config, mesh, program, num_layers=depth))
      log(json.dumps(points[-1].as_dict()))
    rows += [*points, extrapolate(*points, full_depth)]
  return rows


def markdown_table(rows: list[MemoryStats], hbm_gib: float | None = None) -> str:
  """One line per program: GiB per device of each component, the total, and its share of HBM."""
  head = ["program", "layers", "mesh", "argument", "output", "temp", "code", "alias", "total"]
  if hbm_gib:
    head.append(f"of {hbm_gib:g} GiB HBM")
  head += ["compile s", "source"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  gib = lambda n: f"{n / GIB:.2f}"
  for r in rows:
    cells = [r.program, str(r.num_layers), "x".join(map(str, r.mesh_shape))]
    cells += [gib(getattr(r, name)) for name in _FIELDS] + [gib(r.total)]
    if hbm_gib:
      cells.append(f"{r.total / (hbm_gib * GIB):.0%}")
    cells += [f"{r.compile_s:g}" if r.source.startswith("measured") else "-", r.source]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


# -- compiled by the TPU compiler for a topology ---------------------------------------------------

TPU_PROGRAMS = ("rl_update", "generate", "eval_generate", "prompt_entropy")


def topology_mesh(config: ml_collections.ConfigDict, devices):
  """The config's mesh laid over `devices` (a topology's chips); refused before any compile when
  the mesh's size is not the chip count."""
  shape = sharding.resolve_mesh_shape(config.mesh.shape, len(devices))
  if math.prod(shape) != len(devices):
    raise ValueError(
      f"config.mesh.shape={tuple(config.mesh.shape)} covers {math.prod(shape)} devices but the "
      f"topology has {len(devices)} chips; use a mesh whose product is {len(devices)} (or -1)."
    )
  return sharding.make_mesh(shape, devices=devices)


def _sampler_rows(config: ml_collections.ConfigDict, program: str) -> int:
  """Rows the sampler decodes in `program`: an eval batch (prompts × k) or a rollout batch."""
  if program == "eval_generate":
    return config.eval.batch_prompts * config.eval.k
  return config.rollout.prompts_per_step * config.rollout.group_size


def model_flops(config: ml_collections.ConfigDict, program: str, params: int) -> float:
  """Dense matmul FLOPs of one call of `program` over all chips (2 per parameter and token
  forward, 4 backward, 2 more forward under remat; attention's T² terms left out): the count a
  time estimate needs, since `cost_analysis()` counts a loop's body once."""
  r, e = config.rollout, config.eval
  P, Y = config.data.max_prompt_len, r.max_new_tokens
  if program == "rl_update":
    rows, tokens = r.prompts_per_step * r.group_size, P + Y
    scoring_passes = (config.rl.old_logp != "sampler") + (config.rl.kl_coef > 0)
    step = 6 + 2 * bool(config.model.remat)
    return 2.0 * params * rows * tokens * (scoring_passes + config.rl.epochs * step / 2)
  if program in ("generate", "eval_generate"):
    return 2.0 * params * _sampler_rows(config, program) * (P + Y)
  if program == "prompt_entropy":
    return 2.0 * params * e.batch_prompts * P
  raise ValueError(f"No FLOP count for {program!r}.")


def decode_bytes(config: ml_collections.ConfigDict, program: str, cfg: ModelConfig, chips: int):
  """HBM bytes a chip streams in a sampler's decode loop: every step reads its shard of the
  weights (compute dtype) and of the full-length KV cache; 0 for the other programs."""
  if program not in ("generate", "eval_generate"):
    return 0.0
  r = config.rollout
  rows = _sampler_rows(config, program)
  T = config.data.max_prompt_len + r.max_new_tokens
  width = jnp.dtype(cfg.dtype).itemsize
  cache = 2 * cfg.num_layers * rows * T * cfg.num_kv_heads * cfg.head_dim * width
  return r.max_new_tokens * (num_params(cfg) * width + cache) / chips


def tpu_record(config: ml_collections.ConfigDict, mesh, program: str, topology: str) -> dict:
  """Compiles `program` for the TPU chips of `mesh` and returns its JSON record: the compiler's
  per-chip memory (bytes_per_chip = arguments + outputs + temporaries + code - aliased) against
  the chip's HBM, its cost analysis (flops, bytes_accessed: loop bodies counted once), the
  program's model FLOPs and a roofline time, max(FLOPs / (chips · peak), decode bytes / HBM
  bandwidth), from accelerators.CHIPS."""
  from jax_rlvr import accelerators

  stats, compiled_cost = measure_with_cost(config, mesh, program)
  device = mesh.devices.flat[0]
  chip = accelerators.chip(device)
  chips = mesh.devices.size
  cfg = model_config(config)
  flops = model_flops(config, program, num_params(cfg))
  compute_s = flops / (chips * chip.bf16_flops)
  memory_s = decode_bytes(config, program, cfg, chips) / chip.hbm_bandwidth
  return {
    "program": program,
    "device_kind": device.device_kind,
    "chip": chip.name,
    "topology": topology,
    "chips": chips,
    "mesh_shape": list(stats.mesh_shape),
    "num_layers": stats.num_layers,
    "bytes_per_chip": stats.total,
    "hbm_bytes": chip.hbm_bytes,
    "fits": stats.total <= chip.hbm_bytes,
    **{name: getattr(stats, name) for name in _FIELDS},
    "flops": compiled_cost.get("flops"),
    "bytes_accessed": compiled_cost.get("bytes accessed"),
    "model_flops": flops,
    "roofline_s": max(compute_s, memory_s),
    "bound": "memory" if memory_s > compute_s else "compute",
    "compile_s": stats.compile_s,
  }


def iteration_estimate(config: ml_collections.ConfigDict, records: list[dict]) -> dict:
  """A GRPO iteration's roofline time (the rollout's sampler plus the update) and its MFU: the
  update's training FLOPs (6 per parameter and token) over that time at the chips' peak."""
  from jax_rlvr import accelerators

  by = {r["program"]: r for r in records}
  if not {"rl_update", "generate"} <= set(by):
    return {}
  seconds = by["rl_update"]["roofline_s"] + by["generate"]["roofline_s"]
  chip = accelerators.CHIPS[by["generate"]["device_kind"]]
  r = config.rollout
  params = num_params(model_config(config))
  tokens = r.prompts_per_step * r.group_size * (config.data.max_prompt_len + r.max_new_tokens)
  training = 6.0 * params * tokens * config.rl.epochs
  chips = by["generate"]["chips"]
  return {
    "program": "grpo_iteration",
    "topology": by["generate"]["topology"],
    "roofline_s": seconds,
    "mfu": training / (seconds * chips * chip.bf16_flops),
  }


def tpu_plan(
  config: ml_collections.ConfigDict, topology: str, programs=TPU_PROGRAMS, log=print
) -> list[dict]:
  """Compiles `programs` with the TPU compiler for `topology` (accelerators.topology_devices),
  logging one JSON line per program as it is compiled, then the iteration estimate's line and
  the table. The mesh and the config are checked before the first compile. Returns the records
  (the iteration's last)."""
  from jax_rlvr import accelerators, config_validation

  devices = accelerators.topology_devices(topology)
  mesh = topology_mesh(config, devices)
  config_validation.validate_config(config, num_devices=len(devices))
  records = []
  for program in programs:
    records.append(tpu_record(config, mesh, program, topology))
    log(json.dumps(records[-1]))
  iteration = iteration_estimate(config, records)
  if iteration:
    log(json.dumps(iteration))
  log("\n" + tpu_table(records, iteration))
  return records + ([iteration] if iteration else [])


def tpu_table(records: list[dict], iteration: dict | None = None) -> str:
  """A markdown table of tpu_record rows (GiB per chip against HBM) and the iteration estimate."""
  head = [
    "program",
    "topology",
    "mesh",
    "GiB per chip",
    "of HBM",
    "fits",
    "roofline s",
    "compile s",
  ]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in records:
    cells = [
      r["program"],
      r["topology"],
      "x".join(map(str, r["mesh_shape"])),
      f"{r['bytes_per_chip'] / GIB:.2f} / {r['hbm_bytes'] / GIB:.0f}",
      f"{r['bytes_per_chip'] / r['hbm_bytes']:.0%}",
      "yes" if r["fits"] else "**no**",
      f"{r['roofline_s']:.3g} ({r['bound']})",
      f"{r['compile_s']:g}",
    ]
    lines.append("| " + " | ".join(cells) + " |")
  if iteration:
    lines.append(
      f"\nGRPO iteration (sampler + update), roofline: {iteration['roofline_s']:.3g} s, "
      f"MFU ≤ {iteration['mfu']:.1%}"
    )
  return "\n".join(lines)


# -- all-gathers in the compiled decode loop -------------------------------------------------------

_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "s16": 2, "u16": 2}
_DTYPE_BYTES.update({"f32": 4, "s32": 4, "u32": 4, "f64": 8, "s64": 8, "u64": 8})
_HEADER = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$")
_WHILE = re.compile(r"\bwhile\(.*\bbody=%?([\w.\-]+)")
_ALL_GATHER = re.compile(r"=\s*(.+?)\s+all-gather(-start)?\(")
_SHAPE = re.compile(r"\b([a-z]+\d*)\[([\d,]*)\]")


def _computations(hlo_text: str) -> tuple[dict[str, list[str]], str]:
  """{computation name: its instruction lines} of an HLO module's text, and the entry's name."""
  computations, entry, name = {}, None, None
  for line in hlo_text.splitlines():
    header = _HEADER.match(line)
    if header:
      name = header.group(1)
      computations[name] = []
      entry = name if line.startswith("ENTRY") else entry
    elif line.startswith("}"):
      name = None
    elif name is not None:
      computations[name].append(line)
  return computations, entry


def _called(computations, root: str) -> set[str]:
  """`root` and every computation it calls, directly or not (fusions, loops, async wrappers)."""
  seen, todo = set(), [root]
  while todo:
    name = todo.pop()
    if name in seen:
      continue
    seen.add(name)
    for line in computations[name]:
      todo += [t for t in re.findall(r"[\w.\-]+", line.split("=", 1)[-1]) if t in computations]
  return seen


def _shape_bytes(dtype: str, dims: str) -> int:
  return _DTYPE_BYTES[dtype] * math.prod(int(d) for d in dims.split(",") if d)


def decode_loop_gathers(hlo_text: str) -> list[tuple[tuple[int, ...], int]]:
  """(shape, bytes) per chip of the output of each all-gather in the decode loop of a compiled
  sampler's HLO text (`compiled.as_text()`): in the body of the entry computation's largest
  `while` and every computation it calls. An asynchronous all-gather (start and done) counts
  once; a variadic one, by its first output's shape and all outputs' bytes."""
  computations, entry = _computations(hlo_text)
  bodies = [m.group(1) for line in computations[entry] if (m := _WHILE.search(line))]
  if not bodies:
    raise ValueError("No while loop in the program's entry computation.")
  size = lambda body: sum(len(computations[c]) for c in _called(computations, body))
  gathers = []
  for name in _called(computations, max(bodies, key=size)):
    for line in computations[name]:
      match = _ALL_GATHER.search(line)
      if match:
        shapes = _SHAPE.findall(match.group(1))
        # all-gather-start's shape is (operands..., results...); all-gather's, its results.
        results = shapes[len(shapes) // 2 :] if match.group(2) else shapes
        dims = tuple(int(d) for d in results[0][1].split(",") if d)
        gathers.append((dims, sum(_shape_bytes(*shape) for shape in results)))
  return gathers


def decode_gathers(config: ml_collections.ConfigDict, mesh, num_layers: int | None = None):
  """Compiles the rollout sampler (`compile_generate`, in config.rollout.decode_layout) and
  returns its record: all_gathers in the decode loop's body and gather_bytes (their output bytes
  per chip, per decode step); weight_gathers and weight_gather_bytes, those whose output has the
  shape of a weight's block in the decode layout (a gathered weight; the rest gather
  activations, e.g. logits split over tensor); the program's per-chip bytes
  (MemoryStats.total) and compile_s."""
  compiled, seconds = compile_generate(config, mesh, num_layers)
  gathers = decode_loop_gathers(compiled.as_text())
  _, params = abstract_params(model_config(config, num_layers), mesh)
  shardings = jax.tree.leaves(sharding.decode_shardings(params, mesh))
  blocks = {s.shard_shape(x.shape) for s, x in zip(shardings, jax.tree.leaves(params), strict=True)}
  weights = [(dims, n) for dims, n in gathers if dims in blocks]
  stats = _memory_stats(config, mesh, "generate", num_layers, compiled, seconds)
  return {
    "decode_layout": config.rollout.decode_layout,
    "num_layers": stats.num_layers,
    "mesh_shape": list(stats.mesh_shape),
    "all_gathers": len(gathers),
    "gather_bytes": sum(n for _, n in gathers),
    "weight_gathers": len(weights),
    "weight_gather_bytes": sum(n for _, n in weights),
    "bytes_per_chip": stats.total,
    "compile_s": stats.compile_s,
    "source": "measured",
  }


def decode_gather_plan(
  config: ml_collections.ConfigDict, topology: str, fit_layers=(1, 2), log=print
) -> list[dict]:
  """`decode_gathers` under each rollout.decode_layout, compiled by the TPU compiler for
  `topology` at the two depths `fit_layers`, and the gathers extrapolated linearly to the
  config's depth (every layer adds the same weights); one JSON line each. Returns the records.
  bytes_per_chip is not extrapolated (null): the TPU compiler's buffer assignment is far from
  linear in depth at a few layers (for 7B on v5p-64, 1 -> 2 layers adds 0.25 GB in one layout
  and 1.6 GB in the other, 3 -> 4 layers 2.7 and 2.2 GB)."""
  from jax_rlvr import accelerators

  mesh = topology_mesh(config, accelerators.topology_devices(topology))
  full_depth = model_config(config).num_layers
  records = []
  for layout in ("training", "tensor"):
    config = config.copy_and_resolve_references()
    config.rollout.decode_layout = layout
    a, b = (decode_gathers(config, mesh, depth) for depth in fit_layers)
    t = (full_depth - a["num_layers"]) / (b["num_layers"] - a["num_layers"])
    full = dict(b, num_layers=full_depth, compile_s=0.0, bytes_per_chip=None)
    for field in ("all_gathers", "gather_bytes", "weight_gathers", "weight_gather_bytes"):
      full[field] = round(a[field] + t * (b[field] - a[field]))
    full["source"] = f"extrapolated from L={a['num_layers']},{b['num_layers']}"
    for record in (a, b, full):
      records.append(dict(record, topology=topology))
      log(json.dumps(records[-1]))
  return records
