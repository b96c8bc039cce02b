"""jax_rlvr.metrics."""
