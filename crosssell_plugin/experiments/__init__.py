"""Experiments: the holdout, A/B splits and bandits (:mod:`.assignment`), and the statistics that
measure them (:mod:`.stats`, :mod:`.bandit`: pure computation, no Django).

This package module imports nothing, so that the pure modules can be used (and benchmarked)
without Django settings.
"""
