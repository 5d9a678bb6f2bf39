"""Statistics: pure numpy/scipy, all randomness from a passed-in numpy Generator."""
