"""The jobs, end to end: `score` (suites on both models, the new task, the KL, statistics, the run
folder, `--gate` and `--law`), `kl` (the KL alone), `gate` (a saved run against a policy), `demo`.
Everything the CLI does, a Python caller does through these functions (re-exported by `forgetbench`)."""
