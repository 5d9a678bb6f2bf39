"""The transformers backend (`hf`): models loaded in this process. `scorer` samples and runs the chunked
full-vocabulary KL pass, `lm_eval` builds lm-eval's HFLM for suites, `gguf` converts GGUF files into
fp32 folders, `sft` makes small real fine-tunes (the demo checkpoint, test models)."""
