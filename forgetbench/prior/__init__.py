"""Prior-capability evaluation: the only package that imports lm-eval."""
