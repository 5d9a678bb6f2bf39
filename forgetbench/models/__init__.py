"""Models: a spec (embedded short name, local folder, GGUF file, hub id) resolved to a validated local
Hugging Face folder with a content fingerprint, and the tokenizer checks that make a KL between two
models defined (same vocabulary, special tokens, chat template and stop tokens). Backends only ever
see a `core.model.ResolvedModel`; conversion of GGUF files is delegated to the transformers backend."""
