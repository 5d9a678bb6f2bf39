"""Fingerprints: content-addressed, sensitive to weights and tokenizer, cached per file."""

from __future__ import annotations

import json

from forgetbench.models import fingerprint as fpmod
from forgetbench.models.fingerprint import fingerprint


def test_fingerprint_is_stable_and_content_addressed(tiny_model, tiny_copy):
    a, b = fingerprint(tiny_model), fingerprint(tiny_model)
    assert a == b
    assert fingerprint(tiny_copy) == a  # same contents elsewhere: same identity


def test_one_changed_weight_changes_the_fingerprint(tiny_copy):
    from safetensors.torch import load_file, save_file

    before = fingerprint(tiny_copy)
    path = tiny_copy / "model.safetensors"
    tensors = load_file(path)
    name = sorted(tensors)[0]
    tensors[name].view(-1)[0] += 1e-3
    save_file(tensors, path, metadata={"format": "pt"})
    after = fingerprint(tiny_copy)
    assert after.weights != before.weights and after.digest != before.digest
    assert (after.config, after.tokenizer) == (before.config, before.tokenizer)


def test_tokenizer_change_shows_in_tokenizer_digest(tiny_copy):
    before = fingerprint(tiny_copy)
    cfg = json.loads((tiny_copy / "tokenizer_config.json").read_text())
    cfg["model_max_length"] = 77
    (tiny_copy / "tokenizer_config.json").write_text(json.dumps(cfg))
    after = fingerprint(tiny_copy)
    assert after.tokenizer != before.tokenizer and after.weights == before.weights


def test_refingerprinting_uses_the_digest_cache(tiny_copy, monkeypatch):
    fingerprint(tiny_copy)
    calls = []
    real = fpmod.file_sha256
    monkeypatch.setattr(fpmod, "file_sha256", lambda p: calls.append(p) or real(p))
    fingerprint(tiny_copy)
    assert calls == []  # nothing re-read: (path, size, mtime) unchanged
    (tiny_copy / "config.json").write_text((tiny_copy / "config.json").read_text() + " ")
    fingerprint(tiny_copy)
    assert [p.name for p in calls] == ["config.json"]
