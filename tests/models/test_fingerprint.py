"""Fingerprints: content-addressed, sensitive to what the model computes (weights, tokenizer, config
values), blind to how and where a library version wrote the folder, cached per file."""

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
    real = fpmod._content
    monkeypatch.setattr(fpmod, "_content", lambda p: calls.append(p) or real(p))
    fingerprint(tiny_copy)
    assert calls == []  # nothing re-read: (path, size, mtime) unchanged
    (tiny_copy / "config.json").write_text((tiny_copy / "config.json").read_text() + " ")
    fingerprint(tiny_copy)
    assert [p.name for p in calls] == ["config.json"]


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=4))


def test_library_bookkeeping_does_not_change_the_identity(tiny_copy):
    """What differs between two installs of the same model (transformers version, hub-offline flag,
    the dtype name) changes no fingerprint."""
    before = fingerprint(tiny_copy)
    _edit_json(tiny_copy / "config.json", transformers_version="9.99.0", _name_or_path="/elsewhere", torch_dtype="float32")
    _edit_json(tiny_copy / "tokenizer_config.json", local_files_only=True, is_local=False, tokenizer_class="SomethingElse")
    assert fingerprint(tiny_copy) == before


def test_a_config_value_that_changes_the_computation_changes_the_identity(tiny_copy):
    before = fingerprint(tiny_copy)
    _edit_json(tiny_copy / "config.json", rms_norm_eps=1e-3)
    after = fingerprint(tiny_copy)
    assert after.config != before.config and after.digest != before.digest and after.weights == before.weights


def test_weights_are_identified_by_their_tensors_not_their_files(tiny_copy, tmp_path):
    """Resharded, or saved with other header metadata: the same tensors, the same weights digest."""
    from safetensors.torch import load_file, save_file

    before = fingerprint(tiny_copy)
    tensors = load_file(tiny_copy / "model.safetensors")
    names = sorted(tensors)
    (tiny_copy / "model.safetensors").unlink()
    save_file(
        {n: tensors[n] for n in names[: len(names) // 2]},
        tiny_copy / "model-00001-of-00002.safetensors",
        metadata={"format": "pt", "x": "1"},
    )
    save_file({n: tensors[n] for n in names[len(names) // 2 :]}, tiny_copy / "model-00002-of-00002.safetensors")
    assert fingerprint(tiny_copy).weights == before.weights
