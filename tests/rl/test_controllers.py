"""λ schedules and controllers against the NumPy reference, the registries, and their closed-loop
behaviour."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_rlvr.models import scoring
from jax_rlvr.rl import controllers as ctl
from jax_rlvr.rl import entropy_terms, losses

from . import numpy_reference as ref


def test_adaptive_entropy_coefficient_matches_reference():
  entropies = [0.1, 0.15, 0.3, 0.25, 0.35, 0.4, 0.1, 0.05, 0.5, 0.5]
  state = ctl.init_adaptive_entropy()
  got = []
  for h in entropies:
    state = ctl.update_adaptive_entropy(state, h, target=0.2, step=0.01)
    got.append(float(ctl.adaptive_entropy_coef(state)))
  want = ref.adaptive_entropy_coefs(entropies, 0.0, 0.2, 0.01)
  np.testing.assert_allclose(got, want, atol=1e-7)
  assert min(got) == 0.0 and max(got) > 0.0  # it rose, then was stopped at zero


def test_stage_and_epoch_schedules_match_reference():
  steps = np.arange(21)
  stage = [float(ctl.stage_pos_weight(s, 21)) for s in steps]
  np.testing.assert_allclose(stage, [ref.stage_pos_weight(s, 21) for s in steps], atol=1e-6)
  assert stage[:11] == [0.0] * 11 and stage[-1] == 1.0
  np.testing.assert_allclose(stage[15], 0.5, atol=1e-6)
  epoch = [float(ctl.epoch_pos_weight(s, 40, num_epochs=4)) for s in range(40)]
  np.testing.assert_allclose(epoch, [ref.epoch_pos_weight(s, 40, 4) for s in range(40)], atol=1e-6)
  np.testing.assert_allclose(epoch[::10], [0.0, 1 / 3, 2 / 3, 1.0], atol=1e-6)
  with pytest.raises(ValueError, match="num_epochs"):
    ctl.epoch_pos_weight(0, 40, num_epochs=3)


def test_entropy_guided_pos_weight_matches_reference():
  entropies = [0.5, 0.4, 0.3, 0.1, 0.15, 0.25, 0.3] + [0.5] * 20 + [0.1] * 3
  state = ctl.init_entropy_guided()
  lams = []
  for h in entropies:
    state = ctl.update_entropy_guided(state, h)
    lams.append(float(ctl.entropy_guided_weights(state)[0]))
  np.testing.assert_allclose(
    lams, ref.entropy_guided_pos_weights(entropies, 0.0, 0.2, 0.05), atol=1e-6
  )
  assert max(lams) == 1.0  # clipped at 1 during the long high-entropy stretch
  assert float(ctl.entropy_guided_weights(state)[1]) == 1.0


def test_entropic_controller_matches_reference():
  entropies = [0.05, 0.1, 0.12, 0.3, 0.5, 0.6, 0.25, 0.2, 0.0, 0.0, 0.0]
  state = ctl.init_entropic()
  alphas = []
  for h in entropies:
    state = ctl.update_entropic(state, h, target=0.2, kp=2.0, ki=0.5, alpha_max=0.5)
    alphas.append(float(state.alpha))
    pos, neg = ctl.entropic_weights(state)
    np.testing.assert_allclose([pos, neg], [1 - alphas[-1], 1 + alphas[-1]], atol=1e-7)
  want = ref.entropic_alphas(entropies, 0.2, 2.0, 0.5, 0.5)
  np.testing.assert_allclose(alphas, want, atol=1e-6)
  assert min(alphas) == -0.5 and max(alphas) > 0  # saturates at -α_max, recovers


def _hp():
  return types.SimpleNamespace(
    pos_weight_init=0.0,
    entropy_coef=0.01,
    entropy_target=0.2,
    pos_weight_step=0.1,
    entropy_coef_step=0.005,
    pi_kp=1.0,
    pi_ki=0.1,
    pos_weight=0.3,
    neg_weight=0.8,
    total_rl_steps=21,
    pos_weight_epochs=3,
  )


def test_controllers_are_born_and_advanced_from_the_config_fields():
  hp = _hp()
  c = ctl.init_controllers(hp)
  assert (
    int(c.rl_step),
    float(c.pos_weight.pos_weight),
    float(c.entropy_coef.coef),
  ) == pytest.approx((0, 0, 0.01))
  low = ctl.update_controllers(c, 0.05, hp)  # entropy below δ = 0.2
  assert int(low.rl_step) == 1
  assert float(low.pos_weight.pos_weight) == 0.0  # λ - Δ, clipped at 0
  assert float(low.entropy_coef.coef) == pytest.approx(0.015)  # α + step
  assert float(low.pic.alpha) == pytest.approx(0.15 + 0.1 * 0.15)  # K_p e + K_i I, e = 0.15
  high = ctl.update_controllers(c, 0.5, hp)
  assert float(high.pos_weight.pos_weight) == pytest.approx(0.1) and float(high.pic.alpha) < 0
  # Field names and the state layout the checkpoints hold.
  assert ctl.Controllers._fields == ("rl_step", *ctl.CONTROLLERS)


def test_pos_weight_schedules_and_entropy_coefs_by_name():
  hp = _hp()
  c = ctl.update_controllers(ctl.init_controllers(hp), 0.5, hp)._replace(
    rl_step=jnp.asarray(15, jnp.int32)
  )
  got = {name: tuple(float(w) for w in fn(c, hp)) for name, fn in ctl.POS_WEIGHT_SCHEDULES.items()}
  assert got["constant"] == pytest.approx((0.3, 0.8))
  assert got["stage"] == pytest.approx((0.5, 0.8))  # (2·15 - 20) / 20
  assert got["epoch"] == pytest.approx((1.0, 0.8))  # step 15 of 21 is in epoch 3 of 3
  assert got["entropy_guided"] == pytest.approx((0.1, 0.8))  # λ from the state, neg from hp
  pos, neg = ctl.entropic_weights(c.pic)
  assert got["pi"] == pytest.approx((float(pos), float(neg)))  # both from the PI controller
  assert float(ctl.ENTROPY_COEFS["entropy_bonus"](c, hp)) == pytest.approx(0.01)
  assert float(ctl.ENTROPY_COEFS["adaptive_entropy"](c, hp)) == pytest.approx(0.005)  # α - step


def _weights_over(entropies, reads, **hp_fields):
  """(λ, α) of updates 0.. for the rollout entropies H_0, H_1, ... under controller_reads."""
  hp = types.SimpleNamespace(
    **{**vars(_hp()), **hp_fields, "controller_reads": reads, "method": "adaptive_entropy"}
  )
  c, out = ctl.init_controllers(hp), []
  for h in entropies:
    c, (pos, _, coef) = ctl.advance_controllers(c, h, hp)
    out.append((round(float(pos), 6), round(float(coef), 6)))
  return out, c


def test_previous_reads_the_last_rollout_and_current_reads_its_own():
  # δ = 0.2, Δ = 0.1, α step 0.005 from α_0 = 0.01; H above δ for three rollouts, then below.
  entropies = [0.5, 0.5, 0.5, 0.1, 0.1]
  previous, c_prev = _weights_over(entropies, "previous", pos_weight_schedule="entropy_guided")
  current, c_cur = _weights_over(entropies, "current", pos_weight_schedule="entropy_guided")
  # Eq. 5 as written: update k's λ has seen H_0 .. H_{k-1}; update 0 runs on λ_0.
  assert [p for p, _ in previous] == [0.0, 0.1, 0.2, 0.3, 0.2]
  assert [a for _, a in previous] == [0.01, 0.005, 0.0, 0.0, 0.005]
  # "current": update k has also seen H_k: the same sequence one update earlier.
  assert [p for p, _ in current] == [0.1, 0.2, 0.3, 0.2, 0.1]
  assert [a for _, a in current] == [0.005, 0.0, 0.0, 0.005, 0.01]
  # Both leave the same states after the last update: only the read differs.
  assert jax.tree.map(float, c_prev) == jax.tree.map(float, c_cur)
  assert int(c_cur.rl_step) == len(entropies)


def test_current_reads_keep_the_step_schedules_on_the_update_index():
  stage = dict(pos_weight_schedule="stage", total_rl_steps=5)
  previous, _ = _weights_over([0.5] * 5, "previous", **stage)
  current, _ = _weights_over([0.5] * 5, "current", **stage)
  assert [p for p, _ in previous] == [p for p, _ in current] == [0.0, 0.0, 0.0, 0.5, 1.0]


# -------------------------------------------------------------------------------------------------
# Closed loop: a softmax "policy" whose likely token is sampled in 5 positive- and 3
# negative-advantage responses each step. With λ = 1 the positive updates dominate and the entropy
# collapses; the controllers must hold it near the target instead.

_ADV = jnp.array([1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0])
_Z0 = jnp.array([2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])


def _plant_step(z, pos_weight, neg_weight, bonus_coef, lr=2.0):
  def loss_fn(z):
    y = jnp.argmax(z)
    logp_B1 = jnp.broadcast_to(jax.nn.log_softmax(z)[y], (8, 1))
    mask = jnp.ones((8, 1))
    loss, _ = losses.policy_loss(
      logp_B1,
      jax.lax.stop_gradient(logp_B1),
      _ADV,
      mask,
      pos_weight=pos_weight,
      neg_weight=neg_weight,
    )
    ent_B1 = jnp.broadcast_to(scoring.entropy_from_logits(z), (8, 1))
    return loss + entropy_terms.entropy_bonus_loss(ent_B1, mask, bonus_coef)

  z = z - lr * jax.grad(loss_fn)(z)
  return z, scoring.entropy_from_logits(z)


def _closed_loop(method, steps, target):
  def body(carry, _):
    z, state = carry
    if method == "grpo":
      z, h = _plant_step(z, 1.0, 1.0, 0.0)
    elif method == "entropy_guided":
      z, h = _plant_step(z, *ctl.entropy_guided_weights(state), 0.0)
      state = ctl.update_entropy_guided(state, h, target=target)
    elif method == "entropic":
      z, h = _plant_step(z, *ctl.entropic_weights(state), 0.0)
      state = ctl.update_entropic(state, h, target=target)
    else:
      z, h = _plant_step(z, 1.0, 1.0, ctl.adaptive_entropy_coef(state))
      state = ctl.update_adaptive_entropy(state, h, target=target, step=0.02)
    return (z, state), h

  init = {
    "grpo": (),
    "entropy_guided": ctl.init_entropy_guided(),
    "entropic": ctl.init_entropic(),
    "adaptive_entropy": ctl.init_adaptive_entropy(),
  }[method]
  _, entropies = jax.jit(lambda: jax.lax.scan(body, (_Z0, init), None, length=steps))()
  return np.asarray(entropies)


@pytest.mark.parametrize(
  "method,target,steps",
  [
    ("entropy_guided", 0.2, 300),
    ("entropic", 0.2, 600),
    ("entropic", 0.6, 600),
    ("adaptive_entropy", 0.2, 300),
  ],
)
def test_controllers_hold_entropy_at_target(method, target, steps):
  collapsed = _closed_loop("grpo", 300, target)
  assert collapsed[-1] < 0.1 and float(scoring.entropy_from_logits(_Z0)) > 1.0
  entropies = _closed_loop(method, steps, target)
  tail = entropies[-100:]
  assert abs(tail.mean() - target) < 0.03, (method, tail.mean())
  assert tail.min() > target - 0.1 and tail.max() < target + 0.1
