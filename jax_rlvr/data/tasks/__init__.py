"""Synthetic verifiable tasks: problem generators, demonstrations and verifiers (pure Python)."""
