"""forgetbench: what did this fine-tune cost the model?

Measures retention on prior-capability benchmarks (through lm-evaluation-harness) and the KL
divergence between a base model and a fine-tuned checkpoint on new-task prompts.
"""

__version__ = "0.1.0"
