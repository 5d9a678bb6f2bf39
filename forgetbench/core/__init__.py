"""The floor every other layer stands on: errors and exit codes, typed configurations and their
defaults, typed results and the one module that reads and writes them, the content-addressed store,
atomic file helpers, forgetbench's home folder and the progress interface. Nothing here imports
torch, vLLM or lm-eval, and nothing here imports another forgetbench package."""
