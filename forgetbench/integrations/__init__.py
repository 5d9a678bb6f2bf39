"""forgetbench inside other tools' loops, above the pipeline like the command line:
`integrations.transformers.ForgettingCallback` measures the KL of a model while a transformers or TRL trainer
trains it, and logs it through the trainer."""
