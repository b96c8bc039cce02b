"""Rollouts: sampling settings and the draw (sampling.py), the static engine (static.py), the
continuous-batching engine over a paged KV cache (continuous.py), one interface (engines.py)."""
