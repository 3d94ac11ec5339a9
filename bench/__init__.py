"""Benchmarks (run by hand, results in the README; not part of the test suite)."""
