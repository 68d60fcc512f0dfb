"""Benchmarks: run from the repository root, never part of the test run."""
