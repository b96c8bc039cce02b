"""Jobs the scripts run on top of training and evaluation: sweeps, figures, subset selection.

Modules here may import `jax_rlvr.train` and `jax_rlvr.evaluate`; nothing below imports them.
"""
