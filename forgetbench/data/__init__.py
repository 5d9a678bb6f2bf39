"""Benchmark data read from installed PyPI packages (no hub access needed)."""
