"""Tests of the static engine (jax_rlvr.rollout.static), the draw (rollout.sampling) and the
full-forward scorer (scoring)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats

from jax_rlvr.models.config import get_preset
from jax_rlvr.models.policy import Policy
from jax_rlvr.models.scoring import response_logprobs
from jax_rlvr.rollout import sampling
from jax_rlvr.rollout.sampling import SamplingConfig
from jax_rlvr.rollout.static import generate, sample
from tests.numerics import assert_f32_close

PROMPT_LENS = (7, 4, 1, 5)
P = max(PROMPT_LENS)
Y = 10
PAD = 0


@pytest.fixture(scope="module")
def policy():
  # Untied head scaled up: next-token entropy ~2 nats on a 32-token vocabulary, so greedy has
  # clear winners and samples still vary.
  cfg = get_preset("tiny", tie_embeddings=False)
  model = Policy(cfg, rngs=nnx.Rngs(0))
  model.lm_head[...] = model.lm_head[...] * 10.0
  return model


@pytest.fixture(scope="module")
def prompts():
  """Ragged, left-padded prompts: (tokens_BP, mask_BP)."""
  rng = np.random.default_rng(0)
  tokens = rng.integers(1, 32, size=(len(PROMPT_LENS), P))
  mask = (np.arange(P)[None] >= P - np.array(PROMPT_LENS)[:, None]).astype(np.int32)
  return jnp.asarray(np.where(mask, tokens, PAD), jnp.int32), jnp.asarray(mask)


score = nnx.jit(response_logprobs, static_argnames=("temperature", "chunk_size"))
forward = nnx.jit(lambda model, tokens_BT, mask_BT: model(tokens_BT, mask_BT=mask_BT))


def _run(policy, prompts, key=0, **kwargs):
  kwargs.setdefault("max_new_tokens", Y)
  kwargs.setdefault("eos_id", ())
  kwargs.setdefault("pad_id", PAD)
  return jax.device_get(sample(policy, *prompts, jax.random.key(key), SamplingConfig(**kwargs)))


def _response_logits(policy, out):
  """Full-forward (no cache) logits [B, Y, V] that predict each response token."""
  tokens = jnp.concatenate([out.prompt_tokens_BP, out.response_tokens_BY[:, :-1]], axis=1)
  mask = jnp.concatenate([out.prompt_mask_BP, out.response_mask_BY[:, :-1]], axis=1)
  logits = forward(policy, tokens, mask)
  return np.asarray(logits[:, out.prompt_tokens_BP.shape[1] - 1 :], np.float64)


def _reference_sampled(logits_V, token, temperature, top_k, top_p):
  """(log-prob of `token`, entropy) of the distribution temperature -> top-k -> top-p, from
  scratch in NumPy."""
  z = logits_V / temperature
  kept = np.argsort(-z, kind="stable")
  if top_k:
    kept = kept[:top_k]
  p = np.exp(z[kept] - z[kept].max())
  p /= p.sum()
  kept = kept[(np.cumsum(p) - p) < top_p]
  assert token in kept, f"token {token} outside the truncated support {kept}"
  logp = z[kept] - np.log(np.sum(np.exp(z[kept] - z[kept].max()))) - z[kept].max()
  return logp[list(kept).index(token)], -np.sum(np.exp(logp) * logp)


# The last one is reused by other tests (same static config, no recompilation).
FULL_SETTINGS = dict(eos_id=8, temperature=0.7, top_k=6, top_p=0.8, num_samples=2)


@pytest.mark.parametrize(
  "settings",
  [
    dict(temperature=1.0),
    dict(temperature=1.3, top_p=0.8),
    dict(temperature=0.7, top_k=6),
    FULL_SETTINGS,
  ],
)
def test_logps_match_full_forward(policy, prompts, settings):
  out = _run(policy, prompts, key=1, **{"eos_id": 8, **settings})
  valid = out.response_mask_BY.astype(bool)
  assert valid[:, 0].all() and out.num_steps > 1

  logp, entropy = score(
    policy, out.prompt_tokens_BP, out.prompt_mask_BP, out.response_tokens_BY, out.response_mask_BY
  )
  np.testing.assert_allclose(out.policy_logp_BY, logp, atol=1e-5)
  np.testing.assert_allclose(out.entropy_BY, entropy, atol=1e-5)
  assert (entropy[valid] > 0.1).all()  # the test is not trivially about one-hot distributions

  logits = _response_logits(policy, out)
  expected, expected_entropy = np.zeros(valid.shape), np.zeros(valid.shape)
  for b, n in zip(*np.nonzero(valid), strict=True):
    expected[b, n], expected_entropy[b, n] = _reference_sampled(
      logits[b, n],
      out.response_tokens_BY[b, n],
      settings["temperature"],
      settings.get("top_k", 0),
      settings.get("top_p", 1.0),
    )
  np.testing.assert_allclose(out.sample_logp_BY, expected, atol=1e-5)
  np.testing.assert_allclose(out.sample_entropy_BY, expected_entropy, atol=1e-5)
  if settings == dict(temperature=1.0):
    np.testing.assert_array_equal(out.sample_entropy_BY, out.entropy_BY)
  else:  # sharper (T < 1) or truncated: less entropy than the policy; T = 1.3 widens before top-p
    assert not np.allclose(out.sample_entropy_BY[valid], out.entropy_BY[valid], atol=1e-3)
  for field in ("sample_logp_BY", "policy_logp_BY", "entropy_BY", "sample_entropy_BY"):
    assert getattr(out, field).dtype == np.float32
    assert (getattr(out, field)[~valid] == 0).all()


def test_greedy_equals_argmax_of_full_forward(policy, prompts):
  out = _run(policy, prompts, greedy=True)
  assert out.num_steps == Y and (out.lengths_B == Y).all()
  # The growing sequence lives in a fixed [B, P + Y] buffer (one compilation); the slots after it
  # cannot change its logits, since attention is causal.
  tokens = np.concatenate([np.asarray(prompts[0]), np.zeros((len(PROMPT_LENS), Y), np.int32)], 1)
  mask = np.concatenate([np.asarray(prompts[1]), np.ones((len(PROMPT_LENS), Y), np.int32)], 1)
  for n in range(Y):
    logits = forward(policy, jnp.asarray(tokens), jnp.asarray(mask))
    tokens[:, P + n] = np.argmax(np.asarray(logits[:, P + n - 1]), axis=-1)
  np.testing.assert_array_equal(out.response_tokens_BY, tokens[:, P:])
  assert len({tuple(row) for row in tokens[:, P:]}) == len(PROMPT_LENS)
  assert (out.sample_logp_BY == 0).all() and (out.sample_entropy_BY == 0).all()


def test_key_determines_samples(policy, prompts):
  a = _run(policy, prompts, key=3)
  b = _run(policy, prompts, key=3)
  c = _run(policy, prompts, key=4)
  np.testing.assert_array_equal(a.response_tokens_BY, b.response_tokens_BY)
  np.testing.assert_array_equal(a.sample_logp_BY, b.sample_logp_BY)
  assert (a.response_tokens_BY != c.response_tokens_BY).mean() > 0.3


def _check_stops_at_eos(out, free, eos_ids):
  """`out` sampled with `eos_ids`, `free` with the same key and no EOS."""
  hits = np.isin(free.response_tokens_BY, eos_ids)
  finished = hits.any(axis=1)
  lengths = np.where(finished, np.argmax(hits, axis=1) + 1, Y)
  cols = np.arange(Y)[None]
  valid = cols < lengths[:, None]
  np.testing.assert_array_equal(out.finished_B, finished)
  np.testing.assert_array_equal(out.lengths_B, lengths)
  np.testing.assert_array_equal(out.response_mask_BY, valid.astype(np.int32))
  np.testing.assert_array_equal(
    out.response_tokens_BY, np.where(valid, free.response_tokens_BY, PAD)
  )
  np.testing.assert_array_equal(out.policy_logp_BY, np.where(valid, free.policy_logp_BY, 0))
  assert out.num_steps == lengths.max()
  return lengths


def test_rows_stop_at_first_eos_and_loop_stops_early(policy, prompts):
  free = _run(policy, prompts, key=5)
  # Every row emits one of these by column 3 (some earlier), so the loop can stop early.
  eos_ids = tuple(sorted(set(free.response_tokens_BY[:, 3].tolist())))
  lengths = _check_stops_at_eos(_run(policy, prompts, key=5, eos_id=eos_ids), free, eos_ids)
  assert lengths.max() <= 4 < Y and lengths.min() < lengths.max()
  # A single EOS id that only some rows emit: the rest run to Y and the loop runs Y steps.
  eos_id = int(free.response_tokens_BY[0, 1])
  lengths = _check_stops_at_eos(_run(policy, prompts, key=5, eos_id=eos_id), free, [eos_id])
  assert lengths[0] <= 2 and lengths.max() == Y


def test_num_samples_groups_are_prompt_major(policy, prompts):
  G = 3
  np_prompts = [np.repeat(np.asarray(x), G, axis=0) for x in prompts]
  greedy_one = _run(policy, prompts, greedy=True)
  greedy_g = _run(policy, prompts, greedy=True, num_samples=G)
  np.testing.assert_array_equal(greedy_g.prompt_tokens_BP, np_prompts[0])
  np.testing.assert_array_equal(greedy_g.prompt_mask_BP, np_prompts[1])
  np.testing.assert_array_equal(
    greedy_g.response_tokens_BY, np.repeat(greedy_one.response_tokens_BY, G, axis=0)
  )

  # Sampling G per prompt is sampling once from the prompts repeated G times.
  grouped = _run(policy, prompts, key=6, num_samples=G)
  repeated = _run(policy, [jnp.asarray(x) for x in np_prompts], key=6)
  np.testing.assert_array_equal(grouped.response_tokens_BY, repeated.response_tokens_BY)
  np.testing.assert_allclose(grouped.sample_logp_BY, repeated.sample_logp_BY, atol=1e-5)
  groups = grouped.response_tokens_BY.reshape(len(PROMPT_LENS), G, Y)
  assert all(len({tuple(r) for r in group}) > 1 for group in groups)


def test_truncation_limits(policy, prompts):
  greedy = _run(policy, prompts, greedy=True)
  for settings in (dict(top_k=1), dict(top_p=1e-6)):
    out = _run(policy, prompts, key=7, **settings)
    np.testing.assert_array_equal(out.response_tokens_BY, greedy.response_tokens_BY)
    assert_f32_close(out.sample_logp_BY, np.zeros_like(out.sample_logp_BY))

  k = 3
  out = _run(policy, prompts, key=8, top_k=k, temperature=2.0, num_samples=2)
  logits = _response_logits(policy, out)
  token_logit = np.take_along_axis(logits, out.response_tokens_BY[..., None], axis=-1)
  rank = (logits > token_logit).sum(-1)
  assert rank.max() < k and len(np.unique(rank)) == k  # all of the top k occur, nothing else


@pytest.mark.parametrize("num_candidates", [700, 40])  # 3 blocks, the last one padded; 1 block
def test_draw_matches_its_distribution(num_candidates):
  """Chi-square of 40,000 draws against the exact probabilities, with excluded (-inf) candidates
  never drawn, including a whole block of them at the end."""
  rng = np.random.default_rng(0)
  logits = rng.normal(size=num_candidates) * 2.0
  logits[rng.random(num_candidates) < 0.2] = -np.inf
  logits[-num_candidates // 4 :] = -np.inf
  logp = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32))
  draws = 40_000
  choice = jax.jit(sampling.draw_categorical)(
    jax.random.key(3), jnp.broadcast_to(logp, (draws, num_candidates))
  )
  counts = np.bincount(np.asarray(choice), minlength=num_candidates)
  assert counts.shape == (num_candidates,) and counts[np.isinf(logits)].sum() == 0
  expected = draws * np.exp(np.asarray(logp, np.float64))
  big = expected >= 5  # the chi-square approximation needs >= 5 per bin: pool the rest
  small = ~big & (expected > 0)
  observed = np.append(counts[big], counts[small].sum())
  expected = np.append(expected[big], expected[small].sum())
  if expected[-1] == 0:
    observed, expected = observed[:-1], expected[:-1]
  assert stats.chisquare(observed, expected * draws / expected.sum()).pvalue > 1e-3


def test_draw_resolves_small_masses_in_other_blocks():
  """A candidate with 1e-3 of the mass, alone in the second block, is drawn at its rate."""
  logits = np.full(300, -np.inf)
  logits[0], logits[299] = 0.0, np.log(1e-3 / (1 - 1e-3))
  draws = 100_000
  logp = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32))
  choice = np.asarray(
    jax.jit(sampling.draw_categorical)(jax.random.key(0), jnp.broadcast_to(logp, (draws, 300)))
  )
  assert set(np.unique(choice)) == {0, 299}
  assert stats.binomtest(int((choice == 299).sum()), draws, 1e-3).pvalue > 1e-3


def test_inverse_cdf_picks_only_positive_weights():
  # Zero weights before, between and after the positive ones, at the extreme uniforms 0 and 1-.
  weights = jnp.asarray([[0.3, 0.7, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
  u = jnp.full((3,), np.nextafter(np.float32(1), np.float32(0)))
  np.testing.assert_array_equal(sampling._inverse_cdf(weights, u), [1, 0, 2])
  np.testing.assert_array_equal(sampling._inverse_cdf(weights, jnp.zeros(3)), [0, 0, 2])


def test_generate_under_outer_jit_and_param_split(policy, prompts):
  graphdef, params, rest = nnx.split(policy, nnx.Param, ...)
  assert not jax.tree.leaves(rest)
  config = SamplingConfig(max_new_tokens=Y, pad_id=PAD, **FULL_SETTINGS)

  @jax.jit
  def outer(params, key):
    return generate(graphdef, params, *prompts, key, config)

  out = outer(params, jax.random.key(9))
  ref = sample(policy, *prompts, jax.random.key(9), config)
  np.testing.assert_array_equal(out.response_tokens_BY, ref.response_tokens_BY)


def test_scoring_matches_unpadded_prefix_forward(policy, prompts):
  out = _run(policy, prompts, key=10, eos_id=8)
  logp, entropy = score(
    policy,
    out.prompt_tokens_BP,
    out.prompt_mask_BP,
    out.response_tokens_BY,
    out.response_mask_BY,
    temperature=0.5,
  )
  # Every (row, position) as its own prefix without left padding (positions start at 0), in one
  # batch; the zeros after a prefix cannot change its logits, since attention is causal.
  prefixes, where = [], []
  for b in range(len(PROMPT_LENS)):
    prompt = out.prompt_tokens_BP[b][out.prompt_mask_BP[b] == 1]
    for n in range(out.lengths_B[b]):
      prefixes.append(np.concatenate([prompt, out.response_tokens_BY[b, :n]]))
      where.append((b, n))
  tokens = np.zeros((len(prefixes), P + Y), np.int32)
  mask = np.zeros_like(tokens)
  for i, prefix in enumerate(prefixes):
    tokens[i, : len(prefix)], mask[i, : len(prefix)] = prefix, 1
  logits = forward(policy, jnp.asarray(tokens), jnp.asarray(mask))
  last = np.array([len(prefix) - 1 for prefix in prefixes])
  ref = jax.nn.log_softmax(logits[np.arange(len(prefixes)), last] / 0.5)
  b, n = np.array(where).T
  np.testing.assert_allclose(
    logp[b, n], ref[np.arange(len(b)), out.response_tokens_BY[b, n]], atol=1e-5
  )
  np.testing.assert_allclose(entropy[b, n], -np.sum(np.exp(ref) * ref, axis=-1), atol=1e-5)
  assert (logp[out.response_mask_BY == 0] == 0).all()


def _scored_loss_and_grad(policy, out, **scoring_options):
  """Loss sum(logp) + 0.3 sum(entropy) of `out`'s responses at temperature 0.9, with its aux
  (logp, entropy) and gradient w.r.t. the parameters, scored with `scoring_options`."""
  batch = (out.prompt_tokens_BP, out.prompt_mask_BP, out.response_tokens_BY, out.response_mask_BY)
  graphdef, params = nnx.split(policy)

  def loss(params):
    logp, entropy = response_logprobs(
      nnx.merge(graphdef, params), *batch, temperature=0.9, **scoring_options
    )
    return jnp.sum(logp) + 0.3 * jnp.sum(entropy), (logp, entropy)

  return jax.jit(jax.value_and_grad(loss, has_aux=True))(params)


def _assert_same_scores_and_gradients(got, want):
  (got_loss, got_aux), got_grad = got
  (want_loss, want_aux), want_grad = want
  assert_f32_close(got_loss, want_loss)
  for a, b in zip(got_aux, want_aux, strict=True):
    assert_f32_close(a, b)
  for a, b in zip(jax.tree.leaves(got_grad), jax.tree.leaves(want_grad), strict=True):
    assert_f32_close(a, b, rtol=1e-4)
  assert max(np.abs(g).max() for g in jax.tree.leaves(want_grad)) > 0


def test_chunked_scoring_matches_values_and_gradients(policy, prompts):
  out = _run(policy, prompts, key=11, **FULL_SETTINGS)
  _assert_same_scores_and_gradients(
    _scored_loss_and_grad(policy, out, chunk_size=3),  # 3 does not divide Y = 10
    _scored_loss_and_grad(policy, out),
  )


def test_config_is_static_and_validated():
  a = SamplingConfig(max_new_tokens=4, eos_id=[2, 3])
  assert a == SamplingConfig(max_new_tokens=4, eos_id=(2, 3)) and hash(a) == hash(
    SamplingConfig(max_new_tokens=4, eos_id=(2, 3))
  )
  for bad in (dict(temperature=0.0), dict(top_p=0.0), dict(top_k=-1), dict(num_samples=0)):
    with pytest.raises(ValueError, match=next(iter(bad))):
      SamplingConfig(max_new_tokens=4, eos_id=2, **bad)
  SamplingConfig(max_new_tokens=4, eos_id=2, greedy=True, temperature=0.0)


def test_remat_policy_samples_like_plain_policy():
  """remat only changes the backward pass: a remat policy samples (no trace-context error inside
  the decode loop) exactly like the same weights without remat."""
  cfg = get_preset("tiny", vocab_size=17)
  plain = Policy(cfg, rngs=nnx.Rngs(0))
  remat = Policy(cfg.replace(remat=True), rngs=nnx.Rngs(0))
  tokens = jnp.full((2, 5), 3, jnp.int32)
  mask = jnp.ones((2, 5), jnp.int32)
  config = SamplingConfig(max_new_tokens=6, eos_id=2)
  a = sample(plain, tokens, mask, jax.random.key(0), config)
  b = sample(remat, tokens, mask, jax.random.key(0), config)
  np.testing.assert_array_equal(a.response_tokens_BY, b.response_tokens_BY)
  assert_f32_close(a.policy_logp_BY, b.policy_logp_BY)


def test_shared_prompt_scoring_matches_values_and_gradients(policy, prompts):
  """group_size = G computes each prompt once for its G responses (a KV cache repeated G times):
  the same log-probs, entropies and parameter gradients as the full forward of every row."""
  G = 3
  out = _run(policy, prompts, key=12, eos_id=8, num_samples=G)
  assert (out.prompt_tokens_BP[::G].repeat(G, 0) == out.prompt_tokens_BP).all()
  assert out.response_mask_BY.sum(1).min() < Y  # some rows stopped early: masked tails
  _assert_same_scores_and_gradients(
    _scored_loss_and_grad(policy, out, group_size=G), _scored_loss_and_grad(policy, out)
  )


def test_the_scorer_runs_the_model_over_all_prompt_and_response_positions(policy, prompts):
  # P + Y positions, the last one only predicted: lengths that are powers of two stay so. With
  # P + Y - 1 the full-size configs gave XLA:GPU dots of 2 × 4095 rows that it found no tiling
  # for (scripts/memory_plan.py --topology h100x8); the values are those of P + Y - 1 positions.
  out = _run(policy, prompts, key=3, max_new_tokens=12)  # P + Y = 19, P + Y - 1 = 18
  args = (out.prompt_tokens_BP, out.prompt_mask_BP, out.response_tokens_BY, out.response_mask_BY)
  text = str(jax.make_jaxpr(lambda *a: response_logprobs(policy, *a))(*args))
  assert "[4,19," in text and "[4,18," not in text
  logits = _response_logits(policy, out)  # the forward over P + Y - 1 positions
  logp, _ = jax.device_get(score(policy, *args))
  ref = jax.nn.log_softmax(logits, axis=-1)
  b, n = np.nonzero(out.response_mask_BY)
  np.testing.assert_allclose(logp[b, n], ref[b, n, out.response_tokens_BY[b, n]], atol=1e-5)
