"""jax_rlvr.testing."""
