"""Meshes, logical rules, and parity of sharded and unsharded training on 8 fake CPU devices."""

import jax
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from jax_rlvr import metric_writer, sharding, train, train_state
from jax_rlvr.models import Policy, get_preset
from tests import test_rl_step, test_train


def test_batch_devices_counts_the_data_and_fsdp_axes_of_a_mesh_or_a_resolved_shape():
  assert sharding.batch_devices(sharding.make_mesh((2, 2, 2)).shape) == 4
  assert sharding.batch_devices(sharding.make_mesh((-1, 1, 4)).shape) == 2
  shape = dict(zip(sharding.MESH_AXES, sharding.resolve_mesh_shape((1, -1, 2), 8), strict=True))
  assert sharding.batch_devices(shape) == 4


def test_mesh_shape_resolution_and_errors():
  assert sharding.resolve_mesh_shape((-1, 1, 1), 8) == (8, 1, 1)
  assert sharding.resolve_mesh_shape((2, -1, 2), 8) == (2, 2, 2)
  with pytest.raises(ValueError, match="more than one -1"):
    sharding.resolve_mesh_shape((-1, -1, 1), 8)
  with pytest.raises(ValueError, match="does not divide"):
    sharding.resolve_mesh_shape((3, -1, 1), 8)
  mesh = sharding.make_mesh((2, 2, 2))
  assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}


def test_logical_to_spec_uses_each_axis_once_and_only_where_it_divides():
  mesh = sharding.make_mesh((2, 2, 2))
  spec = sharding.logical_to_spec(("embed", "heads", "head_dim"), (128, 4, 32), mesh)
  assert spec == PartitionSpec("fsdp", "tensor", None)
  # A vocabulary of 17 does not split over tensor = 2: replicated along that dimension.
  assert sharding.logical_to_spec(("vocab", "embed"), (17, 128), mesh) == PartitionSpec(
    None, "fsdp"
  )
  # mlp and heads both map to tensor: only the first dimension gets it.
  assert sharding.logical_to_spec(("mlp", "heads"), (8, 8), mesh) == PartitionSpec("tensor", None)
  assert sharding.logical_to_spec(("batch", None), (8, 3), mesh) == PartitionSpec(
    ("data", "fsdp"), None
  )


def _sharded_params(mesh, rules=sharding.LOGICAL_RULES):
  cfg = get_preset("tiny", vocab_size=17)
  graphdef, abstract = nnx.split(nnx.eval_shape(lambda: Policy(cfg, rngs=nnx.Rngs(0))))
  shardings = sharding.state_shardings(abstract, mesh, rules)
  init = jax.jit(lambda: nnx.split(Policy(cfg, rngs=nnx.Rngs(0)))[1], out_shardings=shardings)
  return init()


def test_parameters_born_sharded_and_replication_check():
  mesh = sharding.make_mesh((1, 4, 2))
  params = _sharded_params(mesh)
  q = params["blocks"][0]["attn"]["q"].get_value()
  assert q.sharding.spec == PartitionSpec("fsdp", "tensor", None)
  assert q.addressable_shards[0].data.shape == (32, 2, 32)
  assert sharding.replicated_fraction(params) < 0.01
  sharding.check_sharded(params, mesh)
  replicated = _sharded_params(mesh, rules=())
  assert sharding.replicated_fraction(replicated) == 1.0
  with pytest.raises(ValueError, match="replicated"):
    sharding.check_sharded(replicated, mesh)


def test_optimizer_state_born_sharded_like_parameters():
  mesh = sharding.make_mesh((1, 4, 2))
  params = _sharded_params(mesh)
  optimizer = train_state.make_optimizer(1e-3, 1, test_train.smoke_config().optim)
  state = sharding.init_optimizer_state(optimizer, params, mesh)
  param_specs = [x.sharding.spec for x in jax.tree.leaves(params)]
  moments = [x for x in jax.tree.leaves(state) if x.ndim > 0]
  assert len(moments) == 2 * len(param_specs)  # Adam's mu and nu
  assert [x.sharding.spec for x in moments] == param_specs * 2
  assert sharding.replicated_fraction(moments) < 0.01
  scalars = [x for x in jax.tree.leaves(state) if x.ndim == 0]
  assert scalars and all(x.sharding.is_fully_replicated for x in scalars)


MESHES = [(1, 1, 1), (8, 1, 1), (2, 4, 1), (2, 2, 2)]


@pytest.fixture(scope="module")
def mesh_runs(tmp_path_factory):
  runs = {}
  for shape in MESHES:
    workdir = str(tmp_path_factory.mktemp("mesh_" + "x".join(map(str, shape))))
    config = test_train.smoke_config(**{"num_steps": 2, "mesh.shape": shape})
    train.train_and_evaluate(config, workdir)
    runs[shape] = (workdir, config)
  return runs


@pytest.mark.slow
@pytest.mark.parametrize("shape", MESHES[1:])
def test_smoke_training_matches_across_meshes(mesh_runs, shape):
  ref_dir, ref_config = mesh_runs[MESHES[0]]
  workdir, config = mesh_runs[shape]
  ref = metric_writer.read_jsonl(f"{ref_dir}/metrics.jsonl")
  got = metric_writer.read_jsonl(f"{workdir}/metrics.jsonl")
  assert [r["step"] for r in got] == [r["step"] for r in ref]
  for a, b in zip(ref, got, strict=True):
    for key in ("sft_loss", "entropy", "reward_mean", "response_length"):
      if key in a:
        assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (a["step"], key)
  _, ref_params = test_train.final_params(ref_dir, ref_config)
  _, params = test_train.final_params(workdir, config)
  for a, b in zip(ref_params, params, strict=True):
    # Adam normalises gradients, so reduction-order noise on near-zero gradients shows up as
    # ~1e-5 absolute differences on parameters of scale 0.02.
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=5e-5)


def test_rl_update_sharded_equals_unsharded():
  """One GRPO iteration (N = 2 updates) on a (2, 2, 2) mesh equals the single-device one. The
  masking methods across meshes: test_rl_step's test_masking_methods_select_over_the_whole_*."""
  common = dict(mini_batches=2, old_logp="recompute")
  _, ref_params, _, ref_metrics = test_rl_step._run(**common)
  _, new_params, _, metrics = test_rl_step._run(mesh_shape=(2, 2, 2), **common)
  for key, value in ref_metrics.items():
    assert float(metrics[key]) == pytest.approx(float(value), rel=1e-4, abs=1e-6), key
  for a, b in zip(jax.tree.leaves(ref_params), jax.tree.leaves(new_params), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=5e-5)


def test_activations_follow_the_batch_sharding_only_with_a_mesh_set():
  """With a mesh set, the policy pins its hidden states to rows over data × fsdp, so each device
  computes a quarter of the rows; without one the partitioner follows the embedding table (D
  over fsdp, every row on every device)."""
  mesh = sharding.make_mesh((2, 2, 2))
  cfg = get_preset("tiny", vocab_size=32)
  graphdef, params = nnx.split(Policy(cfg, rngs=nnx.Rngs(0)))
  params = jax.device_put(params, sharding.state_shardings(params, mesh))
  tokens_BT = jax.random.randint(jax.random.key(0), (8, 128), 0, 32)
  forward = jax.jit(lambda p, t: nnx.merge(graphdef, p).hidden_states(t))
  free = forward.lower(params, tokens_BT).compile()
  with jax.set_mesh(mesh):
    pinned = forward.lower(params, tokens_BT).compile()
    h_BTD = forward(params, tokens_BT)
  rows = NamedSharding(mesh, PartitionSpec(("data", "fsdp")))
  assert h_BTD.sharding.is_equivalent_to(rows, 3)
  assert not free.output_shardings.is_equivalent_to(rows, 3)
  assert pinned.memory_analysis().temp_size_in_bytes < free.memory_analysis().temp_size_in_bytes
  np.testing.assert_allclose(np.asarray(h_BTD), np.asarray(forward(params, tokens_BT)), atol=1e-5)


def test_hf_checkpoint_policy_is_born_sharded_with_the_configs_run_choices(tmp_path):
  from jax_rlvr import components
  from jax_rlvr.models import save_hf_checkpoint

  policy = Policy(get_preset("tiny", vocab_size=32), rngs=nnx.Rngs(0))
  save_hf_checkpoint(policy, str(tmp_path))
  config = test_train.smoke_config(**{"model.hf_checkpoint": str(tmp_path), "model.remat": True})
  mesh = sharding.make_mesh((2, 2, 2))
  graphdef, params = components.build_sharded_policy(config, None, mesh)
  assert nnx.merge(graphdef, params).cfg.remat
  targets = sharding.state_shardings(params, mesh)
  for value, target, original in zip(
    jax.tree.leaves(params),
    jax.tree.leaves(targets),
    jax.tree.leaves(nnx.state(policy)),
    strict=True,
  ):
    assert value.sharding == target
    np.testing.assert_array_equal(np.asarray(value), np.asarray(original))
  assert sharding.replicated_fraction(params) < 0.01


def test_the_decode_layout_gives_the_tokens_of_no_mesh():
  """Both rollout engines on a 2 × 2 × 2 mesh, weights born FSDP-sharded: with the decode layout
  (the weights resharded once per rollout, not split over fsdp) and with the training layout,
  the rows are those of the same call without a mesh."""
  from jax_rlvr.rollout import engines, sampling
  from jax_rlvr.rollout.continuous import ContinuousEngine

  cfg = get_preset("tiny", tie_embeddings=False)
  model = Policy(cfg, rngs=nnx.Rngs(0))
  model.lm_head[...] = model.lm_head[...] * 10.0  # ~2 nats a token: samples vary
  graphdef, params = nnx.split(model)
  rng = np.random.default_rng(0)
  lens = np.array([7, 4, 1, 5])
  mask = (np.arange(8)[None] >= 8 - lens[:, None]).astype(np.int32)
  tokens = np.where(mask, rng.integers(1, 32, size=mask.shape), 0).astype(np.int32)
  config = sampling.SamplingConfig(max_new_tokens=10, eos_id=(3, 9), num_samples=2)
  key = jax.random.key(1)
  want = jax.device_get(
    engines.StaticEngine().generate(graphdef, params, tokens, mask, key, config)
  )
  assert len(set(want.lengths_B.tolist())) > 1

  mesh = sharding.make_mesh((2, 2, 2))
  sharded = jax.device_put(params, sharding.state_shardings(params, mesh))
  with jax.set_mesh(mesh):
    decode = sampling.decode_params(graphdef, sharded, "tensor")
    specs = [x.sharding.spec for x in jax.tree.leaves(decode)]
    assert not any("fsdp" in spec for spec in specs)
    assert any("fsdp" in x.sharding.spec for x in jax.tree.leaves(sharded))
    assert any("tensor" in spec for spec in specs)
    for layout in sharding.DECODE_LAYOUTS:
      for engine in (
        engines.StaticEngine(decode_layout=layout),
        ContinuousEngine(slots=3, page_size=4, decode_layout=layout),
      ):
        got = jax.device_get(engine.generate(graphdef, sharded, tokens, mask, key, config))
        np.testing.assert_array_equal(got.response_tokens_BY, want.response_tokens_BY)
        np.testing.assert_array_equal(got.lengths_B, want.lengths_B)
        np.testing.assert_allclose(got.policy_logp_BY, want.policy_logp_BY, atol=2e-5)
