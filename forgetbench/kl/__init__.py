"""KL divergence between base and checkpoint on new-task prompts (the predictor of forgetting).

`prompts` reads and chooses prompts, `plan` decides everything before compute (sampler, rendered
and tokenised prompts, stop tokens, the samples' store key), `run` samples and scores through the
backend and summarises, `estimators` defines `full`, `k1` and `k3`, `samples` stores responses.
"""
