"""Model backends: the only code that imports torch, transformers' model classes or vLLM.

`base.Backend` is the one interface (sample, score — the KL pass —, run an lm-eval task, close) and
`registry` maps names to implementations: `hf` (transformers, in this process), `vllm` (one engine
per worker process, spoken to in typed, versioned messages) and any installed plugin's (entry-point
group `forgetbench.backends`); each declares its own options (`base.BackendOptions`). `device` holds the neutral device and
dtype policy; `lm_eval_tasks` runs one lm-eval task on an lm-eval model for either backend.
"""
