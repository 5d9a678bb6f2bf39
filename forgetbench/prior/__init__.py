"""Prior-capability evaluation: suites of lm-eval tasks in `tasks/`, their content hashes, running a
suite on one model with per-task store entries, pairing the items of two runs (retention), prompts
rendered by an lm-eval task, and the limited subprocess that runs model-generated code. lm-eval is
imported here (task registry, hashing) and by the backends that run an lm-eval model."""
