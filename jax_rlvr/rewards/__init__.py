"""jax_rlvr.rewards."""
