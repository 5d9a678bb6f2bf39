"""Training output folders: the `checkpoint-<step>` folders a trainer (transformers' `Trainer`, TRL,
peft examples) leaves in its output folder, each a full-weight model or an adapter, ordered by step.

A folder that holds `checkpoint-*` folders is a training run, whatever else it holds (a final model
saved beside them is not one of the run's checkpoints: the last checkpoint is). A folder with neither
a model nor checkpoints is refused: an empty folder, or a run that has not saved one yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from forgetbench.core.errors import ModelSpecError

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a sweep: its spec (what `score` would take), and its training step when known."""

    spec: str
    step: int | None
    """The step of a `checkpoint-<step>` folder; None for a checkpoint given on its own."""

    @property
    def name(self) -> str:
        """A short, unique-within-a-run label: `checkpoint-<step>`, or the spec's last part."""
        return f"checkpoint-{self.step}" if self.step is not None else Path(self.spec.rstrip("/")).name or self.spec


def checkpoint_folders(folder: Path) -> list[tuple[int, Path]]:
    """(step, folder) of each `checkpoint-<step>` folder directly inside `folder`, by step."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := CHECKPOINT.match(p.name))]
    return sorted(found)


def check_not_a_training_folder(folder: Path, raw: str) -> None:
    """A training output folder given where one model is expected: one line saying what to do instead."""
    if (folder / "config.json").is_file():
        return
    found = checkpoint_folders(folder)
    if found:
        raise ModelSpecError(
            f"{raw}: a training output folder ({len(found)} checkpoint-* folders), not one model: "
            f"give one checkpoint (e.g. {found[-1][1]}), or sweep the run with `forgetbench sweep`"
        )
    if folder.is_dir() and not any(folder.iterdir()):
        raise ModelSpecError(f"{raw}: not a model folder (empty: no config.json, adapter_config.json or checkpoint-* folders)")


def expand(specs: list[str]) -> list[Checkpoint]:
    """The checkpoints named by `specs`: a training output folder becomes its `checkpoint-*` folders (by
    step), anything else is one checkpoint. A folder with neither a model nor checkpoints is refused."""
    out: list[Checkpoint] = []
    for raw in specs:
        folder = Path(raw).expanduser()
        found = checkpoint_folders(folder)
        if found:
            out += [Checkpoint(str(p), step) for step, p in found]
            continue
        model_files = ("config.json", "adapter_config.json")
        if folder.is_dir() and not any((folder / f).is_file() for f in model_files):
            what = "empty" if not any(folder.iterdir()) else "no config.json, adapter_config.json or checkpoint-* folders"
            raise ModelSpecError(f"{raw}: not a model folder nor a training output folder ({what})")
        out.append(Checkpoint(raw, None))
    seen: set[str] = set()
    for c in out:
        if c.spec in seen:
            raise ModelSpecError(f"checkpoint {c.spec} is named twice")
        seen.add(c.spec)
    return out
