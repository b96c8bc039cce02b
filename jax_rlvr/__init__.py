"""jax_rlvr: RL with verifiable rewards for reasoning language models, in JAX.

Shape letters, one table for the whole package. An array's name ends in the letters of its axes
(`logits_BTV` is [B, T, V]); each module's "Shape letters" line lists the ones it uses. N is not
a shape letter: it is the paper's number of updates per rollout batch (rl.mini_batches ×
rl.epochs).

  Q  prompts (questions)
  G  samples per prompt (the GRPO group)
  B  rows; B = Q·G responses where both appear
  P  prompt tokens (left-padded)
  Y  response tokens (max_new_tokens, right-padded; y as in π(y | x))
  T  the token axis of the array at hand: a model call's query tokens, the P + Y inputs in
     scoring, the response tokens in rl/
  S  KV-cache slots
  V  vocabulary
  D  embedding width
  F  MLP width
  L  layers
  A  query heads
  K  key/value heads
  E  = A / K query heads per key/value head
  H  head width
  M  responses per mini-batch
  U  micro-batches per mini-batch
  R  = M / U rows per micro-batch (one update pass)
  C  chunk length: the rows or tokens of one chunk; in sampling, the candidate tokens left after
     top-k / top-p
  J  number of chunks: scoring's chunks, policy's attention blocks
  X  pages in a paged KV cache's pool
  Z  tokens per KV page (rollout.page_size)
  W  pages in one decode slot's page table
"""

__version__ = "0.1.0"
