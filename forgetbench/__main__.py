"""`python -m forgetbench`: the command line."""

from forgetbench.cli import main

main()
