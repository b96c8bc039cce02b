"""The continuous-batching engine: a fixed number of decode slots over a paged KV cache.

Shape letters (as in jax_rlvr/__init__.py): Q prompts (in a prefill: its prompts), G samples per
prompt, B = Q·G requests (output rows), P prompt tokens, Y response tokens, S decode slots, W pages
in a slot's page table, Z tokens per page, D, V.

Request r = q·G + g is sample g of prompt q. Its prompt is prefilled once for the G samples (a
program over n prompts at a time, left-padded as the static engine does) and its real tokens go
to pages shared by the samples (jax_rlvr/models/paged.py); the prefill also draws each sample's
first token. A request then waits for a slot; every decode step feeds each busy slot's last token
at its own position, draws the next one and writes it straight into the output row. A slot whose
request stops (EOS or Y tokens) is refilled from the queue before the next step, so no slot
decodes padding while requests wait; pages are taken as sequences grow and returned when a
request ends (its prompt's pages when all G samples ended). When the pool runs dry, the slot with
the fewest tokens gives its pages back and its request is queued again from its first token
(recomputation: the same key gives the same tokens).

Exactness: request r draws column t with the key the static engine gives row r (sampling.py), and
its model computation does not depend on the other slots, so both engines give the same tokens up
to float rounding: the two are differently compiled programs (log-probs agree to ~5e-5 on
SmolLM2), so a draw that falls within that rounding of a boundary can differ (1 row in 128 on
random-token prompts of entropy ~6 nats).

The host loop is thin: it keeps the page tables and slot bookkeeping in NumPy and calls two
compiled programs of fixed shapes (prefill, decode step), fetching S tokens and S stop flags a
step.
"""

from __future__ import annotations

import collections
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jax_rlvr import sharding
from jax_rlvr.models import paged
from jax_rlvr.models.policy import KVCache, Policy, positions_from_mask
from jax_rlvr.rollout.sampling import (
  SampleOutput,
  SamplingConfig,
  choose_tokens,
  column_keys,
  decode_params,
  is_eos,
  request_keys,
)

SCRATCH = paged.SCRATCH_PAGE
_FLOAT_FIELDS = ("sample_logp", "policy_logp", "entropy", "sample_entropy")


@dataclasses.dataclass(frozen=True)
class ContinuousEngine:
  """slots: S, sequences decoded at once. page_size: Z, tokens per KV page. num_pages: pages in
  the pool, the scratch page included (0: enough that no request is ever preempted, the static
  engine's memory for S rows). prefill_prompts: prompts per prefill call (0: ceil(S / G)).
  decode_layout: the weights' layout in both programs (sampling.decode_params), resharded once
  per rollout."""

  slots: int
  page_size: int = 16
  num_pages: int = 0
  prefill_prompts: int = 0
  decode_layout: str = "tensor"

  def __post_init__(self):
    if self.slots < 1:
      raise ValueError(f"rollout.slots={self.slots}: the continuous engine needs >= 1 slot.")
    if self.page_size < 1:
      raise ValueError(f"rollout.page_size={self.page_size} must be >= 1.")
    if self.num_pages < 0 or self.prefill_prompts < 0:
      raise ValueError("rollout.num_pages and prefill_prompts must be >= 0 (0 = automatic).")

  def pages_per_sequence(self, prompt_len: int, max_new_tokens: int) -> int:
    """W: pages of one sequence of the longest prompt and response (the last token drawn is
    never fed back, so P + Y - 1 positions)."""
    return -(-(prompt_len + max_new_tokens - 1) // self.page_size)

  def plan(self, prompts: int, prompt_len: int, config: SamplingConfig) -> dict:
    """The engine's sizes for Q prompts of P tokens (raises before any compile if a request
    cannot fit): slots, page_size, pages_per_sequence W, num_pages, prefill_prompts n."""
    G = config.num_samples
    W = self.pages_per_sequence(prompt_len, config.max_new_tokens)
    prompt_pages = -(-prompt_len // self.page_size)
    n = min(prompts, self.prefill_prompts or -(-self.slots // G))
    num_pages = self.num_pages or 1 + self.slots * W + n * prompt_pages
    least = 1 + prompt_pages + W
    if num_pages < least:
      raise ValueError(
        f"rollout.num_pages={num_pages} cannot hold one request: a prompt of {prompt_len} tokens "
        f"and {config.max_new_tokens} new ones take {prompt_pages} prompt pages + {W} pages of "
        f"{self.page_size} tokens, plus the scratch page: give rollout.num_pages >= {least}."
      )
    return dict(
      slots=self.slots,
      page_size=self.page_size,
      pages_per_sequence=W,
      num_pages=num_pages,
      prefill_prompts=n,
    )

  def generate(
    self,
    graphdef: nnx.GraphDef,
    params: nnx.State,
    prompt_tokens_QP: jax.Array,
    prompt_mask_QP: jax.Array,
    key: jax.Array,
    config: SamplingConfig,
    *,
    stop_lengths_B=None,
    first_request: int = 0,
    stats: dict | None = None,
  ) -> SampleOutput:
    """The static engine's `generate` (same arguments, same rows), decoded in S slots.

    stop_lengths_B: optional int [B], request r stops after that many tokens (at most Y) even
    without EOS (benchmarks force a length distribution with it). first_request: the number of
    row 0 (engines.py). stats: optional dict that receives the rollout's counts (engines.py).
    """
    tokens_QP, mask_QP = sharding.global_to_host((prompt_tokens_QP, prompt_mask_QP))
    tokens_QP, mask_QP = np.asarray(tokens_QP, np.int32), np.asarray(mask_QP, np.int32)
    Q, P = tokens_QP.shape
    G, Y = config.num_samples, config.max_new_tokens
    B = Q * G
    plan = self.plan(Q, P, config)
    stop_B = np.full(B, Y, np.int64) if stop_lengths_B is None else np.asarray(stop_lengths_B)
    if stop_B.shape != (B,) or stop_B.min() < 1 or stop_B.max() > Y:
      raise ValueError(f"stop_lengths_B must be {B} lengths in [1, {Y}].")
    params = decode_params(graphdef, params, self.decode_layout)
    run = _Run(plan, graphdef, params, key, config, tokens_QP, mask_QP, stop_B, first_request)
    out = run.finish(prompt_tokens_QP, prompt_mask_QP)
    if stats is not None:
      policy_cfg = nnx.merge(graphdef, params).cfg
      stats.update(
        run.counts,
        real_tokens=int(run.length_B.sum()),
        kv_bytes=plan["num_pages"] * self.page_size * paged.bytes_per_token(policy_cfg),
      )
    return out


class _Run:
  """One rollout's host loop: page pool, queue and slots (NumPy), device state, the two programs."""

  def __init__(self, plan, graphdef, params, key, config, tokens_QP, mask_QP, stop_B, first):
    self.plan, self.graphdef, self.params, self.key = plan, graphdef, params, key
    self.config, self.tokens_QP, self.mask_QP, self.stop_B = config, tokens_QP, mask_QP, stop_B
    self.first = first  # request number of output row 0
    self.attention = paged.attention_for(jax.tree.leaves(params)[0].devices().pop().platform)
    self.counts = dict(decode_steps=0, decoded_slots=0, prefills=0, preemptions=0)
    Q, P = tokens_QP.shape
    G, Z = config.num_samples, plan["page_size"]
    self.Q, self.P, self.G, self.Z, self.B = Q, P, G, Z, Q * G
    self.S, self.W = plan["slots"], plan["pages_per_sequence"]
    self.prompt_len_Q = mask_QP.sum(axis=1)
    policy_cfg = nnx.merge(graphdef, params).cfg
    self.cache = _init_cache(policy_cfg, plan["num_pages"], Z)
    self.outputs = _init_outputs(self.B, config)
    self.free_pages = collections.deque(range(1, plan["num_pages"]))
    self.prompt_pages = {}  # q -> its pages
    self.live_samples = np.full(Q, G)  # samples of prompt q not yet ended
    self.next_prompt = 0
    self.waiting = collections.deque()  # (request r, its first token)
    self.first_B = np.zeros(self.B, np.int32)  # each request's column 0, drawn at prefill
    self.length_B = np.zeros(self.B, np.int64)
    self.ended = 0
    # Slot s: request (-1 idle), column t to draw next, token to feed, pages.
    self.slot_request = np.full(self.S, -1)
    self.slot_column = np.zeros(self.S, np.int64)
    self.slot_feed = np.zeros(self.S, np.int32)
    self.page_table_SW = np.full((self.S, self.W), SCRATCH, np.int32)
    self.slot_pages = [[] for _ in range(self.S)]  # pages the slot owns (not the prompt's)
    self.copy_src = np.full(self.S, SCRATCH, np.int32)
    self.copy_dst = np.full(self.S, SCRATCH, np.int32)

  # ---- the loop --------------------------------------------------------------------------------
  def finish(self, prompt_tokens_QP, prompt_mask_QP) -> SampleOutput:
    while self.ended < self.B:
      self._fill_slots()
      if self.ended == self.B:  # the last requests ended at their first token
        break
      if (self.slot_request < 0).all():
        raise RuntimeError("continuous engine: requests wait but none could be placed.")
      self._decode_step()
    out = _assemble(self.outputs, config=self.config)
    return SampleOutput(
      prompt_tokens_BP=jnp.repeat(prompt_tokens_QP.astype(jnp.int32), self.G, axis=0),
      prompt_mask_BP=jnp.repeat(prompt_mask_QP.astype(jnp.int32), self.G, axis=0),
      num_steps=jnp.asarray(max(int(self.length_B.max()), 1), jnp.int32),
      **out,
    )

  def _end(self, r: int, length: int):
    self.length_B[r] = length
    self.ended += 1
    q = r // self.G
    self.live_samples[q] -= 1
    if self.live_samples[q] == 0:
      self.free_pages.extend(self.prompt_pages.pop(q))

  # ---- prefill and placement ------------------------------------------------------------------
  def _prompt_page_count(self, q):
    return -(-int(self.prompt_len_Q[q]) // self.Z)

  def _fill_slots(self):
    while True:
      idle = np.flatnonzero(self.slot_request < 0)
      if not len(idle):
        return
      if not self.waiting:
        if self.next_prompt >= self.Q or not self._prefill():
          return
        continue
      # A new request needs a page for its first positions; keep one spare per busy slot.
      busy = self.S - len(idle)
      if len(self.free_pages) < 1 + busy and busy:
        return
      r, first = self.waiting.popleft()
      self._place(idle[0], r, first)

  def _place(self, s, r, first):
    q = r // self.G
    prompt = self.prompt_pages[q]
    full = int(self.prompt_len_Q[q]) // self.Z
    self.slot_request[s], self.slot_column[s], self.slot_feed[s] = r, 1, first
    self.page_table_SW[s] = SCRATCH
    self.page_table_SW[s, :full] = prompt[:full]
    self.slot_pages[s] = []

  def _prefill(self) -> bool:
    """Prefills the next prompts that fit in the pool (keeping room for one whole sequence);
    returns whether any was."""
    n = self.plan["prefill_prompts"]
    chosen = []
    free = len(self.free_pages)
    while len(chosen) < n and self.next_prompt + len(chosen) < self.Q:
      need = self._prompt_page_count(self.next_prompt + len(chosen))
      if free - need < self.W:
        break
      free -= need
      chosen.append(self.next_prompt + len(chosen))
    if not chosen:
      return False
    self.next_prompt += len(chosen)
    Wp = -(-self.P // self.Z)
    tokens = np.zeros((n, self.P), np.int32)
    mask = np.zeros((n, self.P), np.int32)
    table = np.full((n, Wp), SCRATCH, np.int32)
    rows = np.full((n, self.G), self.B, np.int32)  # row B is the outputs' scratch row
    for i, q in enumerate(chosen):
      pages = [self.free_pages.popleft() for _ in range(self._prompt_page_count(q))]
      self.prompt_pages[q] = pages
      tokens[i], mask[i] = self.tokens_QP[q], self.mask_QP[q]
      table[i, : len(pages)] = pages
      rows[i] = q * self.G + np.arange(self.G)
    self.cache, self.outputs, first_QG, stop_QG = _prefill(
      self.graphdef,
      self.params,
      self.cache,
      self.outputs,
      tokens,
      mask,
      table,
      rows,
      self.stop_B[np.minimum(rows, self.B - 1)],  # (padding rows' values are never read)
      self.key,
      np.int32(self.first),
      config=self.config,
    )
    first_QG, stop_QG = sharding.global_to_host((first_QG, stop_QG))
    self.counts["prefills"] += 1
    self.counts["decoded_slots"] += n * self.G  # the prefill draws column 0 of n·G rows
    for i, q in enumerate(chosen):
      for g in range(self.G):
        r = q * self.G + g
        self.first_B[r] = first_QG[i, g]
        if stop_QG[i, g]:
          self._end(r, 1)
        else:
          self.waiting.append((r, int(first_QG[i, g])))
    return True

  # ---- decoding -------------------------------------------------------------------------------
  def _page_for(self, s):
    """Makes sure slot s has the page its next key goes to (preempting slots, s itself
    included, while the pool is empty)."""
    r = self.slot_request[s]
    p = int(self.prompt_len_Q[r // self.G])
    position = p + int(self.slot_column[s]) - 1
    m = position // self.Z
    if self.page_table_SW[s, m] != SCRATCH:
      return
    while not self.free_pages:
      victim = self._victim()
      self._preempt(victim)
      if victim == s:
        return
    page = self.free_pages.popleft()
    self.page_table_SW[s, m] = page
    self.slot_pages[s].append(page)
    if m == p // self.Z and p % self.Z:  # the prompt's partly filled page: the sample's own copy
      self.copy_src[s], self.copy_dst[s] = self.prompt_pages[r // self.G][m], page

  def _victim(self) -> int:
    busy = np.flatnonzero(self.slot_request >= 0)
    return int(busy[np.argmin(self.slot_column[busy])])

  def _preempt(self, s):
    """Slot s gives its pages back; its request waits at the head of the queue and redraws from
    column 1 (column 0 came with the prefill), the same tokens with the same keys."""
    r = int(self.slot_request[s])
    self.counts["preemptions"] += 1
    self.waiting.appendleft((r, int(self.first_B[r])))
    self._release(s)

  def _release(self, s):
    """Slot s goes idle and its own pages back to the pool."""
    self.free_pages.extend(self.slot_pages[s])
    self.slot_request[s] = -1
    self.slot_pages[s] = []
    self.page_table_SW[s] = SCRATCH
    self.copy_src[s] = self.copy_dst[s] = SCRATCH

  def _decode_step(self):
    for s in np.flatnonzero(self.slot_request >= 0):
      if self.slot_request[s] >= 0:  # (an earlier slot's page may have preempted this one)
        self._page_for(s)
    busy = self.slot_request >= 0
    rows = np.where(busy, self.slot_request, self.B).astype(np.int32)
    columns = np.where(busy, self.slot_column, 0).astype(np.int32)
    prompt_len = self.prompt_len_Q[np.maximum(self.slot_request, 0) // self.G]
    positions = np.where(busy, prompt_len + self.slot_column - 1, 0).astype(np.int32)
    stop = np.where(busy, self.stop_B[np.maximum(self.slot_request, 0)], 1).astype(np.int32)
    # Copies: on CPU a NumPy argument can be aliased by the (asynchronous) call, and the host
    # changes these arrays before it reads the results.
    self.cache, self.outputs, tokens_S, ended_S = _decode(
      self.graphdef,
      self.params,
      self.cache,
      self.outputs,
      self.slot_feed.copy(),
      positions,
      self.page_table_SW.copy(),
      rows,
      columns,
      stop,
      self.copy_src.copy(),
      self.copy_dst.copy(),
      self.key,
      np.int32(self.first),
      config=self.config,
      attention=self.attention,
    )
    self.copy_src[:] = SCRATCH
    self.copy_dst[:] = SCRATCH
    tokens_S, ended_S = sharding.global_to_host((tokens_S, ended_S))
    self.counts["decode_steps"] += 1
    self.counts["decoded_slots"] += self.S
    for s in np.flatnonzero(busy):
      if ended_S[s]:
        self._release(s)
        self._end(int(rows[s]), int(columns[s]) + 1)
      else:
        self.slot_column[s] += 1
        self.slot_feed[s] = tokens_S[s]


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _init_cache(policy_cfg, num_pages, page_size):
  return paged.PagedKVCache.init(policy_cfg, num_pages, page_size)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _init_outputs(B: int, config: SamplingConfig) -> dict:
  """Output rows [B + 1, Y] (row B is the scratch row of idle slots and padding prompts)."""
  shape = (B + 1, config.max_new_tokens)
  out = {"tokens": jnp.full(shape, config.pad_id, jnp.int32), "mask": jnp.zeros(shape, jnp.int32)}
  out.update({f: jnp.zeros(shape, jnp.float32) for f in _FLOAT_FIELDS})
  return out


def _write(outputs, rows_B, columns_B, tokens_B, logp_fields):
  out = dict(outputs)
  out["tokens"] = outputs["tokens"].at[rows_B, columns_B].set(tokens_B)
  out["mask"] = outputs["mask"].at[rows_B, columns_B].set(1)
  for name, value in zip(_FLOAT_FIELDS, logp_fields, strict=True):
    out[name] = outputs[name].at[rows_B, columns_B].set(value)
  return out


@functools.partial(jax.jit, static_argnames=("graphdef", "config"), donate_argnums=(2, 3))
def _prefill(
  graphdef,
  params,
  cache,
  outputs,
  tokens_QP,
  mask_QP,
  page_table_QW,
  rows_QG,
  stop_QG,
  key,
  first_request,
  *,
  config: SamplingConfig,
):
  """Prefills Q prompts into their pages and draws column 0 of their G requests each. Returns
  (cache, outputs, first tokens [Q, G], whether each request already ended [Q, G])."""
  policy: Policy = nnx.merge(graphdef, params)
  n, P = tokens_QP.shape
  G = config.num_samples
  contiguous = KVCache.init(policy.cfg, n, P)
  h_QPD, contiguous = policy.decode_hidden(
    tokens_QP, positions_from_mask(mask_QP), mask_QP, contiguous
  )
  logits_QV = policy.logits(h_QPD[:, -1:])[:, 0]
  prompt_keys = [k[:, :P] for k in contiguous.k]
  prompt_values = [v[:, :P] for v in contiguous.v]
  cache = paged.write_prompts(cache, prompt_keys, prompt_values, mask_QP.sum(axis=1), page_table_QW)
  rows_B = rows_QG.reshape(-1)
  keys_B = column_keys(request_keys(key, first_request + rows_B), jnp.zeros_like(rows_B))
  tokens_B, *fields = choose_tokens(jnp.repeat(logits_QV, G, axis=0), keys_B, config)
  outputs = _write(outputs, rows_B, jnp.zeros_like(rows_B), tokens_B, fields)
  ended_B = is_eos(tokens_B, config) | (stop_QG.reshape(-1) <= 1)
  return cache, outputs, tokens_B.reshape(n, G), ended_B.reshape(n, G)


@functools.partial(
  jax.jit, static_argnames=("graphdef", "config", "attention"), donate_argnums=(2, 3)
)
def _decode(
  graphdef,
  params,
  cache,
  outputs,
  feed_S,
  positions_S,
  page_table_SW,
  rows_S,
  columns_S,
  stop_S,
  copy_src_S,
  copy_dst_S,
  key,
  first_request,
  *,
  config: SamplingConfig,
  attention: str,
):
  """One decode step of every slot: feeds feed_S at positions_S, draws column columns_S of
  request rows_S; attention is a name of paged.ATTENTION. Returns (cache, outputs, tokens_S,
  ended_S)."""
  policy: Policy = nnx.merge(graphdef, params)
  cache = paged.copy_pages(cache, copy_src_S, copy_dst_S)
  h_SD, cache = paged.decode_hidden(
    policy,
    feed_S,
    positions_S,
    page_table_SW,
    cache,
    attention=attention,
  )
  logits_SV = policy.logits(h_SD[:, None])[:, 0]
  keys_S = column_keys(request_keys(key, first_request + rows_S), columns_S)
  tokens_S, *fields = choose_tokens(logits_SV, keys_S, config)
  outputs = _write(outputs, rows_S, columns_S, tokens_S, fields)
  ended_S = is_eos(tokens_S, config) | (columns_S + 1 >= stop_S)
  return cache, outputs, tokens_S, ended_S


@functools.partial(jax.jit, static_argnames=("config",))
def _assemble(outputs, *, config: SamplingConfig):
  """The SampleOutput fields of the B request rows (row B, the scratch row, dropped)."""
  tokens_BY, mask_BY = outputs["tokens"][:-1], outputs["mask"][:-1]
  lengths_B = mask_BY.sum(axis=-1)
  last_B = jnp.take_along_axis(tokens_BY, jnp.maximum(lengths_B - 1, 0)[:, None], axis=1)[:, 0]
  return dict(
    response_tokens_BY=tokens_BY,
    response_mask_BY=mask_BY,
    **{f"{f}_BY": outputs[f][:-1] for f in _FLOAT_FIELDS},
    lengths_B=lengths_B,
    finished_B=(lengths_B > 0) & is_eos(last_B, config),
  )
