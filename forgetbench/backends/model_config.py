"""What backends read from a model folder's `config.json` (one place, shared with `models.spec`)."""

from __future__ import annotations

import json
from pathlib import Path

CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")
"""config.json keys that state a model's context length, by architecture family, most common first."""


def context_length(folder: Path) -> int | None:
    """The longest sequence the model in `folder` was built for (config.json, or its `text_config`), or
    None when the config does not say."""
    cfg = json.loads((Path(folder) / "config.json").read_text())
    for section in (cfg, cfg.get("text_config") or {}):
        for key in CONTEXT_KEYS:
            value = section.get(key) if isinstance(section, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None
