"""forgetbench inside other tools' loops: `integrations.transformers.ForgettingCallback` for a training run."""
