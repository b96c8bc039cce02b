"""Command lines the library itself runs in separate processes (`python -m jax_rlvr.cli.<name>`).

The sweep trains runs side by side and the fault drills SIGKILL them, so each run is a process of
its own. The scripts of the same name (scripts/train.py, scripts/diversity_subsets.py) run these
with the checkout's defaults. Modules here define absl flags when imported: only a main imports
them.
"""
