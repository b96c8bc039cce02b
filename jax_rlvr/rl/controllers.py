"""λ schedules and entropy controllers: Positive-Advantage Reweighting, adaptive entropy, PI.

"The paper" below is Jin et al., "Revisiting Entropy in Reinforcement Learning for Large Reasoning
Models" (arXiv 2511.05993), whose method is Positive-Advantage Reweighting (pos_weight = λ,
neg_weight = 1); the other controllers are the baselines and neighbours it compares.

Controllers keep their state in a NamedTuple pytree of float32 scalars (checkpointed by the train
loop) with ``init_*(...) -> state``, ``update_*(state, entropy, ...) -> state`` and a function
giving the current output. ``entropy`` is the batch's mean token entropy at the step just taken.
Every function is pure and jittable.

Registries (``hp`` is the run's ``rl_step.RLHyperParams``, attributes named as config.rl's fields;
``c`` is ``Controllers``):
- ``POS_WEIGHT_SCHEDULES`` by ``config.rl.pos_weight_schedule``: fn(c, hp) -> (pos_weight,
  neg_weight).
- ``ENTROPY_COEFS`` by ``config.rl.method``: fn(c, hp) -> α of the entropy bonus.
- ``CONTROLLERS`` by their field of ``Controllers``: how each state is born and advanced.
"""

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp


class AdaptiveEntropyState(NamedTuple):
  """State of adaptive entropy regularisation: the current bonus coefficient α (>= 0)."""

  coef: jax.Array


def init_adaptive_entropy(coef=0.0):
  """Initial state; α_0 = 0 by default."""
  return AdaptiveEntropyState(coef=jnp.asarray(coef, jnp.float32))


@jax.jit
def update_adaptive_entropy(state, entropy, *, target=0.2, step=0.005):
  """Adaptive entropy regularisation: α ← max(α + step, 0) if H < δ, else max(α - step, 0).

  The coefficient of the entropy bonus rises while the entropy is below the target δ and falls
  otherwise, never below 0 (the adaptive entropy control of Skywork-OR1, He et al. 2025). The paper
  uses δ = 0.2 and δ = the initial entropy; the step default 0.005 is this project's choice.

  Args:
    state: AdaptiveEntropyState.
    entropy: mean token entropy H of the step just taken (scalar).
    target: δ.
    step: the increment of α.

  Returns:
    The new AdaptiveEntropyState.
  """
  below = jnp.asarray(entropy, jnp.float32) < target
  coef = jnp.where(below, state.coef + step, state.coef - step)
  return AdaptiveEntropyState(coef=jnp.maximum(coef, 0.0).astype(jnp.float32))


def adaptive_entropy_coef(state):
  """The current bonus coefficient α, for ``entropy_bonus_loss``."""
  return state.coef


def _check_total_steps(total_steps):
  if not isinstance(total_steps, int) or total_steps < 2:
    raise ValueError(f"total_steps must be an int >= 2, got {total_steps!r}")


@functools.partial(jax.jit, static_argnames=("total_steps",))
def stage_pos_weight(step, total_steps):
  """Stage-based λ (Jin et al.): 0 for the first half of training, then linear up to 1.

  With progress p = step / (total_steps - 1) ∈ [0, 1] (the first step 0, the last 1):
  λ = clip(2p - 1, 0, 1), i.e. λ = 0 up to the middle step and λ = 1 at the last step.

  Args:
    step: 0-based training step (may be traced).
    total_steps: number of training steps K >= 2 (static).

  Returns:
    float32 scalar λ.
  """
  _check_total_steps(total_steps)
  # (2·step - (K - 1)) / (K - 1) is 2p - 1 without rounding p, so the middle step gets exactly 0.
  rise = 2.0 * jnp.asarray(step, jnp.float32) - (total_steps - 1)
  return jnp.clip(rise / (total_steps - 1), 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=("total_steps", "num_epochs"))
def epoch_pos_weight(step, total_steps, *, num_epochs):
  """Epoch-wise λ (Jin et al.): λ = (e - 1) / (E - 1) during epoch e = 1..E.

  The epoch of a 0-based step is e = step // (total_steps // E) + 1, capped at E.

  Args:
    step: 0-based training step (may be traced).
    total_steps: number of training steps, a multiple of E (static).
    num_epochs: E >= 2 (static).

  Returns:
    float32 scalar λ.
  """
  _check_total_steps(total_steps)
  if num_epochs < 2 or total_steps % num_epochs:
    raise ValueError(f"num_epochs={num_epochs} must be >= 2 and divide total_steps={total_steps}")
  epoch0 = jnp.minimum(jnp.asarray(step, jnp.int32) // (total_steps // num_epochs), num_epochs - 1)
  return epoch0.astype(jnp.float32) / (num_epochs - 1)


class EntropyGuidedState(NamedTuple):
  """State of entropy-guided Positive-Advantage Reweighting: the current λ ∈ [0, 1]."""

  pos_weight: jax.Array


def init_entropy_guided(pos_weight=0.0):
  """Initial state; λ_0 = 0 by default (the paper's)."""
  return EntropyGuidedState(pos_weight=jnp.asarray(pos_weight, jnp.float32))


@jax.jit
def update_entropy_guided(state, entropy, *, target=0.2, delta=0.05):
  """Entropy-guided λ (Jin et al., the main variant of Positive-Advantage Reweighting).

  After step k with mean token entropy H_k: λ ← clip(λ - Δ, 0, 1) if H_k < δ, else
  clip(λ + Δ, 0, 1). Defaults δ = 0.2, Δ = 0.05 (and λ_0 = 0 in ``init_entropy_guided``). Step k
  itself uses the λ from before its update.

  Args:
    state: EntropyGuidedState.
    entropy: H_k (scalar).
    target: δ.
    delta: Δ.

  Returns:
    The new EntropyGuidedState.
  """
  below = jnp.asarray(entropy, jnp.float32) < target
  pos_weight = jnp.where(below, state.pos_weight - delta, state.pos_weight + delta)
  return EntropyGuidedState(pos_weight=jnp.clip(pos_weight, 0.0, 1.0).astype(jnp.float32))


def entropy_guided_weights(state):
  """(pos_weight, neg_weight) = (λ, 1) for ``policy_loss``."""
  return state.pos_weight, jnp.ones((), jnp.float32)


class EntroPICState(NamedTuple):
  """State of the EntroPIC-style PI controller: the error integral and the current output α."""

  integral: jax.Array
  alpha: jax.Array


def init_entropic():
  """Initial state: zero integral and α = 0 (weights 1, i.e. GRPO)."""
  return EntroPICState(integral=jnp.zeros((), jnp.float32), alpha=jnp.zeros((), jnp.float32))


@jax.jit
def update_entropic(state, entropy, *, target=0.2, kp=1.0, ki=0.1, alpha_max=1.0):
  """PI control of the entropy (EntroPIC-style; Yang et al. 2025, "EntroPIC: Towards Stable
  Long-Term Training of LLMs via Entropy Stabilization with Proportional-Integral Control").

  With error e = δ - H (positive when the entropy is too low):
    I ← clip(I + e, -α_max / K_i, α_max / K_i)     (anti-windup; unbounded when K_i = 0)
    α = clip(K_p · e + K_i · I, -α_max, α_max)
  and the weights (``entropic_weights``) are pos_weight = 1 - α, neg_weight = 1 + α: when the
  entropy is below the target, positive-advantage tokens (which lower the entropy) are
  down-weighted and negative-advantage tokens (which raise it) up-weighted, and vice versa. This is
  the project's reading of EntroPIC; the defaults K_p = 1, K_i = 0.1, α_max = 1 (weights in
  [0, 2]) and δ = 0.2 are project choices, not EntroPIC's values.

  Args:
    state: EntroPICState.
    entropy: mean token entropy H of the step just taken (scalar).
    target: δ, the target entropy.
    kp, ki: the proportional and integral gains.
    alpha_max: bound on |α|.

  Returns:
    The new EntroPICState.
  """
  error = jnp.asarray(target, jnp.float32) - jnp.asarray(entropy, jnp.float32)
  bound = jnp.where(ki > 0, alpha_max / jnp.maximum(ki, 1e-12), jnp.inf)
  integral = jnp.clip(state.integral + error, -bound, bound)
  alpha = jnp.clip(kp * error + ki * integral, -alpha_max, alpha_max)
  return EntroPICState(integral=integral.astype(jnp.float32), alpha=alpha.astype(jnp.float32))


def entropic_weights(state):
  """(pos_weight, neg_weight) = (1 - α, 1 + α) for ``policy_loss``."""
  return 1.0 - state.alpha, 1.0 + state.alpha


class Controller(NamedTuple):
  """A controller by parts: init(hp) -> state; update(state, entropy, hp) -> state."""

  init: Callable
  update: Callable


# Every controller, by its field of ``Controllers``. All advance every step whether or not the run
# reads them, which keeps the update free of branches and the checkpoint layout fixed.
CONTROLLERS = {
  "pos_weight": Controller(
    lambda hp: init_entropy_guided(hp.pos_weight_init),
    lambda s, h, hp: update_entropy_guided(
      s, h, target=hp.entropy_target, delta=hp.pos_weight_step
    ),
  ),
  "entropy_coef": Controller(
    lambda hp: init_adaptive_entropy(hp.entropy_coef),
    lambda s, h, hp: update_adaptive_entropy(
      s, h, target=hp.entropy_target, step=hp.entropy_coef_step
    ),
  ),
  "pic": Controller(
    lambda hp: init_entropic(),
    lambda s, h, hp: update_entropic(s, h, target=hp.entropy_target, kp=hp.pi_kp, ki=hp.pi_ki),
  ),
}


class Controllers(NamedTuple):
  """Per-step controller states; all are always present so the checkpoint layout is fixed."""

  rl_step: jax.Array  # int32: GRPO iterations done (drives the stage / epoch schedules)
  pos_weight: EntropyGuidedState  # entropy-guided λ
  entropy_coef: AdaptiveEntropyState  # adaptive entropy regularisation α
  pic: EntroPICState  # EntroPIC-style PI controller


def init_controllers(hp) -> Controllers:
  return Controllers(
    rl_step=jnp.zeros((), jnp.int32), **{k: ctrl.init(hp) for k, ctrl in CONTROLLERS.items()}
  )


def update_controllers(c: Controllers, entropy, hp) -> Controllers:
  """Advances every controller with the step's mean token entropy H."""
  return Controllers(
    rl_step=c.rl_step + 1,
    **{k: ctrl.update(getattr(c, k), entropy, hp) for k, ctrl in CONTROLLERS.items()},
  )


# λ schedules by name: fn(c, hp) -> (pos_weight λ, neg_weight) for this step.
POS_WEIGHT_SCHEDULES = {
  "constant": lambda c, hp: (
    jnp.asarray(hp.pos_weight, jnp.float32),
    jnp.asarray(hp.neg_weight, jnp.float32),
  ),
  "stage": lambda c, hp: (
    stage_pos_weight(c.rl_step, hp.total_rl_steps),
    jnp.asarray(hp.neg_weight, jnp.float32),
  ),
  "epoch": lambda c, hp: (
    epoch_pos_weight(c.rl_step, hp.total_rl_steps, num_epochs=hp.pos_weight_epochs),
    jnp.asarray(hp.neg_weight, jnp.float32),
  ),
  "entropy_guided": lambda c, hp: (
    entropy_guided_weights(c.pos_weight)[0],
    jnp.asarray(hp.neg_weight, jnp.float32),
  ),
  "pi": lambda c, hp: entropic_weights(c.pic),
}

# The entropy bonus's coefficient α by config.rl.method (``entropy_terms.entropy_bonus_loss``):
# fixed, or the adaptive controller's current value.
ENTROPY_COEFS = {
  "entropy_bonus": lambda c, hp: jnp.asarray(hp.entropy_coef, jnp.float32),
  "adaptive_entropy": lambda c, hp: adaptive_entropy_coef(c.entropy_coef),
}


def current_weights(c: Controllers, hp):
  """(pos_weight λ, neg_weight, entropy-bonus α) that the states `c` give."""
  pos, neg = POS_WEIGHT_SCHEDULES[hp.pos_weight_schedule](c, hp)
  coef_fn = ENTROPY_COEFS.get(hp.method)
  coef = jnp.zeros((), jnp.float32) if coef_fn is None else coef_fn(c, hp)
  return pos, neg, coef


# When an update's weights read the entropy (hp.controller_reads), as fn(c, entropy, hp) ->
# (controllers after the update, weights for the update); ``entropy`` is H_k, the mean token
# entropy of the rollout update k trains on.
#   previous: Eq. 5 as written: update k uses the states left by update k - 1 (so H_{k-1}), then
#             the states advance with H_k for update k + 1.
#   current:  the states advance with H_k first and update k uses them; the step-driven stage /
#             epoch schedules still see update k's index.
CONTROLLER_READS = {
  "previous": lambda c, h, hp: (update_controllers(c, h, hp), current_weights(c, hp)),
  "current": lambda c, h, hp: (
    (new := update_controllers(c, h, hp)),
    current_weights(new._replace(rl_step=c.rl_step), hp),
  ),
}


def advance_controllers(c: Controllers, entropy, hp):
  """(controllers after update k, (λ, neg_weight, α) for update k) from H_k, the mean token
  entropy of update k's rollout, as ``hp.controller_reads`` says (CONTROLLER_READS)."""
  return CONTROLLER_READS[hp.controller_reads](c, entropy, hp)
