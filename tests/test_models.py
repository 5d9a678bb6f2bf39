"""Model specs, folder validation and fingerprints."""

from __future__ import annotations

import json
import struct

import pytest

from forgetbench import fingerprint as fpmod
from forgetbench.errors import ModelSpecError
from forgetbench.fingerprint import fingerprint
from forgetbench.models import parse_spec, resolve, validate_folder


def test_parse_spec_kinds(tiny_model, tmp_path):
    assert parse_spec("smollm2-135m").kind == "embedded"
    assert parse_spec(str(tiny_model)).kind == "dir"
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert parse_spec(str(gguf)).kind == "gguf"
    hub = parse_spec("HuggingFaceTB/SmolLM2-135M@main")
    assert (hub.kind, hub.location, hub.revision) == ("hub", "HuggingFaceTB/SmolLM2-135M", "main")
    assert parse_spec("org/name").revision is None


@pytest.mark.parametrize("raw", ["/no/such/model", "./missing-dir", "missing.gguf", "not-a-model-name"])
def test_parse_spec_rejects_what_names_nothing(raw):
    with pytest.raises(ModelSpecError):
        parse_spec(raw)


def test_plain_file_is_not_a_model(tmp_path):
    f = tmp_path / "weights.txt"
    f.write_text("x")
    with pytest.raises(ModelSpecError, match="not a GGUF"):
        parse_spec(str(f))


def test_folder_without_config_is_not_a_model(tmp_path):
    with pytest.raises(ModelSpecError, match="no config.json"):
        validate_folder(tmp_path)


def test_folder_without_weights(tiny_copy):
    (tiny_copy / "model.safetensors").unlink()
    with pytest.raises(ModelSpecError, match="no weight files"):
        validate_folder(tiny_copy)


def test_truncated_weights_are_rejected(tiny_copy):
    w = tiny_copy / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-100])
    with pytest.raises(ModelSpecError, match="truncated"):
        validate_folder(tiny_copy)


def test_garbage_weights_are_rejected(tiny_copy):
    (tiny_copy / "model.safetensors").write_bytes(struct.pack("<Q", 10) + b"not json!!" + b"\0" * 64)
    with pytest.raises(ModelSpecError, match="corrupt"):
        validate_folder(tiny_copy)


def test_remote_code_needs_opt_in(tiny_copy):
    cfg = json.loads((tiny_copy / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling.Model"}
    (tiny_copy / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelSpecError, match="trust-remote-code"):
        resolve(str(tiny_copy))
    assert resolve(str(tiny_copy), trust_remote_code=True).trust_remote_code


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
    real = fpmod._sha256_file
    monkeypatch.setattr(fpmod, "_sha256_file", lambda p: calls.append(p) or real(p))
    fingerprint(tiny_copy)
    assert calls == []  # nothing re-read: (path, size, mtime) unchanged
    (tiny_copy / "config.json").write_text((tiny_copy / "config.json").read_text() + " ")
    fingerprint(tiny_copy)
    assert [p.name for p in calls] == ["config.json"]
