"""Group-relative advantages: GRPO, Dr.GRPO and RLOO.

Shape letters (as in jax_rlvr/__init__.py): Q prompts, G responses per prompt (the group size),
B = Q·G responses in the batch.

Groups are contiguous: responses ``[g * G, (g + 1) * G)`` of ``rewards_B`` answer prompt ``g``.
Every function returns one float32 advantage per response, ``[B]``; the policy loss broadcasts it
over the response's tokens. A group whose rewards are all equal gets exactly 0 (tested for
equality, not through the arithmetic, so float rounding of the mean cannot leak a tiny non-zero
advantage).
"""

import functools

import jax
import jax.numpy as jnp


def _grouped(rewards_B, group_size):
  rewards_B = jnp.asarray(rewards_B, jnp.float32)
  if rewards_B.ndim != 1:
    raise ValueError(f"rewards_B must be 1-D [B], got shape {rewards_B.shape}")
  if group_size < 1 or rewards_B.shape[0] % group_size:
    raise ValueError(
      f"group_size={group_size} must be >= 1 and divide the batch size B={rewards_B.shape[0]}"
    )
  rewards_QG = rewards_B.reshape(-1, group_size)
  flat_Q1 = jnp.max(rewards_QG, axis=1, keepdims=True) == jnp.min(rewards_QG, axis=1, keepdims=True)
  return rewards_QG, flat_Q1


@functools.partial(jax.jit, static_argnames=("group_size", "std_normalize", "ddof"))
def grpo_advantages(rewards_B, group_size, *, std_normalize=True, eps=1e-6, ddof=1):
  """GRPO advantages Â_i = (R_i - mean_group(R)) / (std_group(R) + eps) (Shao et al. 2024).

  The default std is the unbiased group std (``ddof=1``, torch.std as used by veRL, which the paper
  used); ``ddof=0`` gives the population std. ``std_normalize=False`` returns R_i - mean_group(R),
  which is Dr.GRPO (see ``dr_grpo_advantages``). A group whose rewards are all equal gets exactly 0;
  with ``group_size <= ddof`` every non-equal group would divide by zero, so that is rejected.

  Args:
    rewards_B: [B] scalar reward per response.
    group_size: G, responses per prompt; must divide B.
    std_normalize: divide by the group std (+ eps).
    eps: added to the std before dividing (veRL's default 1e-6).
    ddof: delta degrees of freedom of the std.

  Returns:
    [B] float32 advantages.
  """
  if std_normalize and group_size <= ddof:
    raise ValueError(f"group_size={group_size} must exceed ddof={ddof} to normalise by the std")
  rewards_QG, flat_Q1 = _grouped(rewards_B, group_size)
  centred_QG = rewards_QG - jnp.mean(rewards_QG, axis=1, keepdims=True)
  if std_normalize:
    var_Q1 = jnp.sum(centred_QG**2, axis=1, keepdims=True) / (group_size - ddof)
    centred_QG = centred_QG / (jnp.sqrt(var_Q1) + eps)
  return jnp.where(flat_Q1, 0.0, centred_QG).reshape(-1)


@functools.partial(jax.jit, static_argnames=("group_size",))
def dr_grpo_advantages(rewards_B, group_size):
  """Dr.GRPO advantages Â_i = R_i - mean_group(R): no std normalisation (Liu et al. 2025).

  Args:
    rewards_B: [B] scalar reward per response.
    group_size: G, responses per prompt; must divide B.

  Returns:
    [B] float32 advantages; exactly 0 for groups with equal rewards.
  """
  return grpo_advantages(rewards_B, group_size, std_normalize=False)


@functools.partial(jax.jit, static_argnames=("group_size",))
def rloo_advantages(rewards_B, group_size):
  """RLOO advantages Â_i = R_i - mean_{j != i} R_j: leave-one-out baseline (Ahmadian et al. 2024).

  Equals G / (G - 1) * (R_i - mean_group(R)).

  Args:
    rewards_B: [B] scalar reward per response.
    group_size: G >= 2, responses per prompt; must divide B.

  Returns:
    [B] float32 advantages; exactly 0 for groups with equal rewards.
  """
  if group_size < 2:
    raise ValueError(f"RLOO needs group_size >= 2, got {group_size}")
  rewards_QG, flat_Q1 = _grouped(rewards_B, group_size)
  loo_mean_QG = (jnp.sum(rewards_QG, axis=1, keepdims=True) - rewards_QG) / (group_size - 1)
  return jnp.where(flat_Q1, 0.0, rewards_QG - loo_mean_QG).reshape(-1)


# Selected by name from the train config; every entry is called as fn(rewards_B, group_size).
ADVANTAGE_FNS = {
  "grpo": grpo_advantages,
  "dr_grpo": dr_grpo_advantages,
  "rloo": rloo_advantages,
}
