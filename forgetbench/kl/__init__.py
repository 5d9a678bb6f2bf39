"""KL divergence between base and checkpoint on new-task prompts (the predictor of forgetting)."""
