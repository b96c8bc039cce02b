"""The training programs' XLA options: accepted by this jaxlib, used on the CPU, off on request."""

import jax
import jax.numpy as jnp

from jax_rlvr import compile_options


def _fusions(options):
  """The fusion lines of tanh(a @ b) + 1 compiled with `options`."""
  x = jnp.ones((64, 64))
  text = jax.jit(lambda a, b: jnp.tanh(a @ b) + 1, compiler_options=options).lower(x, x)
  return [line for line in text.compile().as_text().splitlines() if " fusion(" in line]


def test_cpu_training_options_fuse_elementwise_work_into_the_dot():
  options = compile_options.training()
  assert options == compile_options.CPU_TRAINING_OPTIONS  # the tests run on the CPU
  # XLA's default: the dot alone in a library call, the tanh and add in a loop fusion after it.
  assert len(_fusions({})) == 2
  # With the option, one fusion holds the dot and its elementwise consumers.
  assert len(_fusions(options)) == 1


def test_the_environment_switch_turns_them_off(monkeypatch):
  monkeypatch.setenv("JAX_RLVR_XLA_CPU_DEFAULTS", "0")
  assert compile_options.training() == {}
