"""Model backends: the only modules that import torch (and, later, vllm)."""
