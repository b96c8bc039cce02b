"""jax_rlvr.rl."""
