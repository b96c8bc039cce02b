"""One engine interface for every rollout: the train loop, eval and the probe call `generate`.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G samples per prompt, B = Q·G rows, P
prompt tokens.

An engine has `generate(graphdef, params, prompt_tokens_QP, prompt_mask_QP, key, config, *,
stop_lengths_B=None, first_request=0, stats=None) -> SampleOutput`: Q left-padded prompts in, B
rows out, request r = first_request + q·G + g drawing with its own key (sampling.py), so both
engines give the same tokens, up to a draw within float rounding of a boundary (continuous.py).
`stats`, if a dict, receives the rollout's counts: decode_steps, decoded_slots (every slot of
every decode step, busy or not), real_tokens, kv_bytes, and the continuous engine's prefills and
preemptions.

  static      one program: the whole batch prefilled and decoded at once until its longest row
              ends (static.py). Simple and fast for small batches; the default.
  continuous  S decode slots over a paged KV cache, refilled from a queue as requests end
              (continuous.py): memory follows the pages in use, no slot decodes padding while
              requests wait. For large batches of ragged lengths.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jax_rlvr import sharding
from jax_rlvr.models import paged
from jax_rlvr.rollout import static
from jax_rlvr.rollout.continuous import ContinuousEngine
from jax_rlvr.rollout.sampling import SampleOutput, SamplingConfig


@dataclasses.dataclass(frozen=True)
class StaticEngine:
  """The static engine (static.generate) behind the engine interface. decode_layout: the
  weights' layout while decoding (rollout.decode_layout, sampling.decode_params)."""

  decode_layout: str = "tensor"

  def generate(
    self,
    graphdef,
    params,
    prompt_tokens_QP,
    prompt_mask_QP,
    key,
    config: SamplingConfig,
    *,
    stop_lengths_B=None,
    first_request: int = 0,
    stats: dict | None = None,
  ) -> SampleOutput:
    stop = None if stop_lengths_B is None else jnp.asarray(stop_lengths_B, jnp.int32)
    out = static.generate(
      graphdef,
      params,
      prompt_tokens_QP,
      prompt_mask_QP,
      key,
      config,
      stop,
      first_request,
      decode_layout=self.decode_layout,
    )
    if stats is not None:
      Q, P = prompt_tokens_QP.shape
      B = Q * config.num_samples
      steps = int(sharding.global_to_host(out.num_steps))
      lengths = np.asarray(sharding.global_to_host(out.lengths_B))
      cfg = nnx.merge(graphdef, params).cfg
      stats.update(
        decode_steps=steps,
        decoded_slots=B * steps,
        real_tokens=int(lengths.sum()),
        kv_bytes=B * (P + config.max_new_tokens - 1) * paged.bytes_per_token(cfg),
      )
    return out


ENGINES = ("static", "continuous")


def from_config(rollout) -> StaticEngine | ContinuousEngine:
  """The engine config.rollout names (rollout.engine; slots, page_size, num_pages for the
  continuous one, rollout.slots = 0 meaning all the rows of a rollout batch), decoding with the
  weights in rollout.decode_layout."""
  if rollout.engine == "static":
    return StaticEngine(decode_layout=rollout.decode_layout)
  if rollout.engine == "continuous":
    slots = rollout.slots or rollout.prompts_per_step * rollout.group_size
    return ContinuousEngine(
      slots=slots,
      page_size=rollout.page_size,
      num_pages=rollout.num_pages,
      decode_layout=rollout.decode_layout,
    )
  raise ValueError(f"rollout.engine={rollout.engine!r}: choose one of {ENGINES}.")
