"""A model's context length from its config.json, whatever key its architecture family uses."""

from __future__ import annotations

import json

import pytest

from forgetbench.backends.model_config import context_length


@pytest.mark.parametrize(
    ("config", "want"),
    [
        ({"max_position_embeddings": 2048}, 2048),
        ({"n_positions": 1024}, 1024),  # GPT-2
        ({"seq_length": 4096}, 4096),
        ({"text_config": {"max_position_embeddings": 32768}}, 32768),  # multimodal wrappers
        ({"max_position_embeddings": 0, "n_ctx": 512}, 512),
        ({"hidden_size": 64}, None),
        ({"max_position_embeddings": True}, None),
    ],
)
def test_context_length_reads_the_key_the_architecture_uses(tmp_path, config, want):
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert context_length(tmp_path) == want
