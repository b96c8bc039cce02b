"""The entropy probe: the discriminator's first-order law, and the sign of ΔH on a real update."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import default as default_config
from jax_rlvr import probe, rl_step, train_state
from jax_rlvr.models import Policy, get_preset, scoring
from jax_rlvr.rl import controllers
from jax_rlvr.rollout import sampling, static

LOGITS = np.array([2.0, 0.5, 0.0, -0.3, -1.0, 0.2], np.float32)


def _numpy_discriminator(logits, y):
  p = np.exp(logits - logits.max())
  p /= p.sum()
  h = -np.sum(p * np.log(p))
  return p[y] * (np.log(p[y]) + h) - np.sum(p**2 * (np.log(p) + h))


@pytest.mark.parametrize("y", [0, 3])
@pytest.mark.parametrize("adv", [1.0, -1.0])
def test_discriminator_predicts_the_entropy_change_of_a_small_logit_step(y, adv):
  """H(z + η Â (e_y - π)) - H(z) = -η Â d + O(η²) on a single softmax; d > 0 for the likely
  token 0 (a positive step lowers the entropy) and d < 0 for the unlikely token 3."""
  entropy, d, _ = probe.entropy_discriminator(LOGITS[None, None], jnp.array([[y]]))
  assert float(d[0, 0]) == pytest.approx(_numpy_discriminator(LOGITS, y), rel=1e-5)
  assert float(entropy[0, 0]) == pytest.approx(float(scoring.entropy_from_logits(LOGITS)), rel=1e-6)
  assert (float(d[0, 0]) > 0) == (y == 0)
  eta = 1e-3
  pi = np.asarray(jax.nn.softmax(LOGITS), np.float64)
  step = eta * adv * (np.eye(len(LOGITS))[y] - pi)
  measured = float(scoring.entropy_from_logits(jnp.asarray(LOGITS + step))) - float(entropy[0, 0])
  assert measured == pytest.approx(-eta * adv * float(d[0, 0]), rel=2e-2)


def test_discriminator_ignores_truncated_tokens():
  logits = jnp.array([[[1.0, 0.0, -jnp.inf]]])
  entropy, d, _ = probe.entropy_discriminator(logits, jnp.array([[0]]))
  assert np.isfinite(float(entropy[0, 0])) and np.isfinite(float(d[0, 0]))
  assert float(d[0, 0]) == pytest.approx(_numpy_discriminator(np.array([1.0, 0.0]), 0), rel=1e-5)


Q, G, P, Y = 4, 4, 6, 8  # prompts, samples per prompt, prompt and response tokens


@functools.lru_cache(maxsize=1)
def _greedy_state():
  """A tiny random policy, its greedy rollout (every response token is the most likely one, so
  d >= 0) and rewards that give every group both signs."""
  policy = Policy(get_preset("tiny", vocab_size=17), rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(policy)
  prompts = jax.random.randint(jax.random.key(1), (2 * Q, P), 3, 17)
  mask = jnp.ones((2 * Q, P), jnp.int32)
  config = sampling.SamplingConfig(
    max_new_tokens=Y, num_samples=G, eos_id=(), pad_id=0, greedy=True
  )
  out = static.generate(graphdef, params, prompts, mask, jax.random.key(2), config)
  rollout = jax.tree.map(lambda x: x[: Q * G] if x.ndim else x, out)
  heldout = jax.tree.map(lambda x: x[Q * G :] if x.ndim else x, out)
  rewards = jnp.asarray(np.tile([1.0, 0.0, 0.0, 1.0], Q), jnp.float32)
  return graphdef, params, rollout, heldout, rewards


@pytest.mark.slow
def test_sign_probe_positive_tokens_lower_and_negative_tokens_raise_the_entropy():
  """From one state, the real update (N = 2, AdamW, lr 1e-4) on positive-Â tokens only lowers the
  batch's mean token entropy and on negative-Â tokens only raises it, on the batch and on held-out
  prompts; the first-order prediction has the measured sign."""
  config = default_config.get_config("smoke")
  config.rollout.prompts_per_step, config.rollout.group_size = Q, G
  config.rl.mini_batches, config.rl.old_logp = 2, "recompute"
  hp = rl_step.RLHyperParams.from_config(config)
  graphdef, params, rollout, heldout, rewards = _greedy_state()
  optimizer = train_state.make_optimizer(1e-4, 1, config.optim)
  records = probe.run_probe(
    params,
    optimizer.init(params),
    controllers.init_controllers(hp),
    rollout,
    rewards,
    jax.random.key(3),
    probe.variants(hp, Q * G),
    graphdef=graphdef,
    optimizer=optimizer,
    heldout=heldout,
  )
  by_sign = {r["variant"]: r for r in records}
  pos, neg, both = by_sign["run/pos"], by_sign["run/neg"], by_sign["run/all"]
  assert pos["num_neg_tokens"] == 0 < pos["num_pos_tokens"] == both["num_pos_tokens"]
  assert neg["num_pos_tokens"] == 0 < neg["num_neg_tokens"] == both["num_neg_tokens"]
  assert pos["delta_entropy"] < 0 < neg["delta_entropy"]
  assert pos["delta_entropy_heldout"] < 0 < neg["delta_entropy_heldout"]
  assert pos["delta_entropy_predicted"] < 0 < neg["delta_entropy_predicted"]
  assert both["delta_entropy_predicted"] == pytest.approx(
    pos["delta_entropy_predicted"] + neg["delta_entropy_predicted"], rel=1e-6
  )
  # Greedy tokens are the most likely ones, so log π(y) >= -H: every token is confident.
  assert pos["confident_pos"] == pos["confident_neg"] == 1.0
  assert pos["tokens_pos"] == both["num_pos_tokens"] and pos["micro_batches"] == 1
  metrics = probe.sign_probe_metrics(records)
  assert metrics["probe_dH_pos"] == pos["delta_entropy"]
  assert metrics["probe_dH_neg"] == neg["delta_entropy"]


def _smollm2_hp():
  """configs/smollm2.py's settings: B = 8 × 8, U = 4 micro-batches, prompts shared per group."""
  config = default_config.get_config("smoke")
  config.rollout.prompts_per_step, config.rollout.group_size = 8, 8
  config.rl.micro_batches, config.rl.share_prompts = 4, True
  return rl_step.RLHyperParams.from_config(config)


def test_probe_settings_split_the_batch_by_the_configs_rule():
  """N = 4 on 64 rows leaves 16-row mini-batches: U = 4 would make 4-row micro-batches, less than
  a group of G = 8 whose rows share one prompt (the jit used to fail on it); the probe lowers U to
  2, the largest U a config would accept, and says so in the record's settings."""
  hp = _smollm2_hp()
  n4 = dict(probe.variants(hp, 64, ("N=4",)))["N=4/neg"]
  assert (n4.mini_batches, n4.micro_batches) == (4, 2)
  assert rl_step.batch_split_problem(64, 4, 4, 8, True)[0] == "share_prompts"
  assert rl_step.batch_split_problem(64, 4, 2, 8, True) is None
  n1 = dict(probe.variants(hp, 64, ("N=1",)))["N=1/pos"]
  assert (n1.mini_batches, n1.micro_batches, n1.neg_weight) == (1, 4, 0.0)
  with pytest.raises(ValueError, match="rl.mini_batches"):
    probe.variant_hp(hp, "all", 64, mini_batches=3)


def test_sign_token_stats_count_confident_tokens_by_sign():
  """Two rows with Â > 0 (lengths 2 and 3) and one with Â < 0 (length 1); a token is confident
  when log π(y) + H > 0."""
  mask = np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0]], np.float32)
  entropy = np.full((3, 3), 1.0)
  logp = np.array([[-0.5, -2.0, 0.0], [-0.1, -0.9, -3.0], [-0.2, -0.1, 0.0]])
  adv = np.broadcast_to(np.array([[1.0], [0.5], [-1.0]]), (3, 3))
  stats = probe.sign_token_stats(entropy, logp, adv, mask)
  assert (stats["tokens_pos"], stats["tokens_neg"]) == (5, 1)
  assert (stats["length_pos"], stats["length_neg"]) == (2.5, 1.0)
  assert stats["confident_pos"] == pytest.approx(3 / 5)
  assert stats["confident_neg"] == 1.0


def test_token_stats_in_chunks_run_on_a_rematerialised_policy():
  """Under jit, row chunks of a remat policy give the one-pass values (the chunks' inner jit keeps
  nnx.remat from meeting the enclosing trace's tracers)."""
  policy = Policy(get_preset("tiny", vocab_size=17, remat=True), rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(policy)
  _, _, rollout, _, _ = _greedy_state()
  batch = probe._batch(rollout)
  stats = jax.jit(probe.token_stats, static_argnames=("num_chunks", "graphdef"))
  whole = stats(params, batch, 1, graphdef=graphdef)
  chunked = stats(params, batch, 4, graphdef=graphdef)
  for a, b in zip(whole, chunked, strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
  assert float(np.abs(np.asarray(whole[0])).sum()) > 0
