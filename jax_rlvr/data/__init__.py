"""jax_rlvr.data."""
