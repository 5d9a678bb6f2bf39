"""`python -m forgetbench.cli`."""

from forgetbench.cli import main

main()
