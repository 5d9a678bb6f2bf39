"""Model backends: the only code that imports torch, transformers' model classes or vLLM.

`base.Backend` is the one interface (sample, score — the KL pass —, run an lm-eval task, close) and
`registry` maps names to implementations: `hf` (transformers, in this process) and `vllm` (one engine
per worker process, spoken to in typed, versioned messages). `device` holds the neutral device and
dtype policy; `lm_eval_tasks` runs one lm-eval task on an lm-eval model for either backend.
"""
