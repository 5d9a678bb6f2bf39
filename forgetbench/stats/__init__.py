"""Statistics, pure numpy/scipy, all randomness from a passed-in `numpy.random.Generator`: bootstrap
intervals (with prompts as clusters), paired tests for retention (paired bootstrap, exact McNemar,
flips), multiple-testing corrections, and fitting forgetting against KL."""
