"""Experiment configs: one get_config(arg) file per experiment."""
