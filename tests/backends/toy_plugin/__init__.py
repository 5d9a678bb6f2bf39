"""A third-party backend as a test installs it: the `toy` backend (the hf backend under another name, with
one option of its own, `--toy-tag`), registered through a real entry point (`tests/backends/test_plugins.py`)."""
