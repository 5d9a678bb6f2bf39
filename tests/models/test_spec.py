"""Model specs: parsing, folder validation, remote-code consent."""

from __future__ import annotations

import json
import struct

import pytest

from forgetbench.core.errors import ModelSpecError
from forgetbench.models.spec import parse_spec, resolve
from forgetbench.models.validate import validate_folder


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
    with pytest.raises(ModelSpecError, match=r"no config\.json"):
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
