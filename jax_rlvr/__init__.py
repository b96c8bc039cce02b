"""jax_rlvr: RL with verifiable rewards for reasoning language models, in JAX."""

__version__ = "0.1.0"
