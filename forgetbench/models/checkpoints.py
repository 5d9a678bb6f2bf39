"""Checkpoints in training output folders (read only; forgetbench trains nothing here): the `checkpoint-<step>` folders a trainer (transformers' `Trainer`, TRL,
peft examples) leaves in its output folder, each a full-weight model or an adapter, ordered by step.

A folder that holds `checkpoint-*` folders is a training run, whatever else it holds (a final model
saved beside them is not one of the run's checkpoints: the last checkpoint is). A folder with neither
a model nor checkpoints is refused: an empty folder, or a run that has not saved one yet.

Swept as a run, every `checkpoint-*` folder must name one step: a `checkpoint-final` or `checkpoint-abc`
(no step to place it on the trajectory) and two folders of one step (`checkpoint-02` beside
`checkpoint-2`: two rows at step 2) are refused with one line naming them, rather than dropped or
doubled without a word. Either is still swept when named on its own (`RUN/checkpoint-final`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from forgetbench.core.errors import ModelSpecError

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
MODEL_FILES = ("config.json", "adapter_config.json")


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a sweep: its spec (what `score` would take), its training step when known, and
    its name in the sweep (its run folder's)."""

    spec: str
    step: int | None
    """The step of a `checkpoint-<step>` folder; None for a checkpoint given on its own."""
    name: str
    """The spec's last part (`checkpoint-<step>`), prefixed by its parent folder's name where two would clash."""


def _names(found: list[tuple[str, int | None]]) -> list[Checkpoint]:
    short = [Path(spec.rstrip("/")).name or spec for spec, _ in found]
    out = []
    for (spec, step), name in zip(found, short):
        if short.count(name) > 1:
            name = f"{Path(spec.rstrip('/')).parent.name}-{name}"
        out.append(Checkpoint(spec, step, name))
    if len({c.name for c in out}) < len(out):
        clash = next(c.name for c in out if [d.name for d in out].count(c.name) > 1)
        raise ModelSpecError(f"two checkpoints would share the run folder name {clash}; give them distinct folder names")
    return out


def checkpoint_folders(folder: Path) -> list[tuple[int, Path]]:
    """(step, folder) of each `checkpoint-<step>` folder directly inside `folder`, by step."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := CHECKPOINT.match(p.name))]
    return sorted(found)


def _unstepped(folder: Path) -> list[Path]:
    """`checkpoint-*` folders directly inside `folder` whose suffix is not a step (`checkpoint-final`)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("checkpoint-") and not CHECKPOINT.match(p.name))


def run_checkpoints(folder: Path, raw: str) -> list[tuple[int, Path]]:
    """The checkpoints of the training run in `folder`, by step (empty when it holds none); a `checkpoint-*`
    folder that names no step, or two that name the same step, is refused (ModelSpecError, one line)."""
    found = checkpoint_folders(folder)
    odd = _unstepped(folder)
    if not found and any((folder / f).is_file() for f in MODEL_FILES):
        return []  # a model folder (with, say, a `checkpoint-final` beside its weights): one checkpoint
    if odd:
        names = " and ".join(p.name for p in odd)
        raise ModelSpecError(
            f"{raw}: {names} {'is' if len(odd) == 1 else 'are'} not checkpoint-<step> (no step to place on the "
            f"trajectory); rename, or give the checkpoints one by one ({Path(raw) / 'checkpoint-[0-9]*'}, and "
            f"{odd[0]} by name if wanted)"
        )
    for (step, a), (other, b) in pairwise(found):
        if step == other:
            raise ModelSpecError(f"{raw}: {a.name} and {b.name} are both step {step}; remove or rename one of them")
    return found


def check_not_a_training_folder(folder: Path, raw: str) -> None:
    """A training output folder given where one model is expected: one line saying what to do instead."""
    if (folder / "config.json").is_file():
        return
    found = [p for _, p in checkpoint_folders(folder)] or _unstepped(folder)
    if found:
        n = len(checkpoint_folders(folder)) + len(_unstepped(folder))
        raise ModelSpecError(
            f"{raw}: a training output folder ({n} checkpoint-* folders), not one model: "
            f"give one checkpoint (e.g. {found[-1]}), or sweep the run with `forgetbench sweep`"
        )
    if folder.is_dir() and not any(folder.iterdir()):
        raise ModelSpecError(f"{raw}: not a model folder (empty: no config.json, adapter_config.json or checkpoint-* folders)")


def expand(specs: list[str]) -> list[Checkpoint]:
    """The checkpoints named by `specs`: a training output folder becomes its `checkpoint-*` folders (by
    step), anything else is one checkpoint. A folder with neither a model nor checkpoints is refused."""
    out: list[tuple[str, int | None]] = []
    for raw in specs:
        folder = Path(raw).expanduser()
        found = run_checkpoints(folder, raw)
        if found:
            out += [(str(p), step) for step, p in found]
            continue
        if folder.is_dir() and not any((folder / f).is_file() for f in MODEL_FILES):
            what = "empty" if not any(folder.iterdir()) else "no config.json, adapter_config.json or checkpoint-* folders"
            raise ModelSpecError(f"{raw}: not a model folder nor a training output folder ({what})")
        out.append((raw, None))
    seen: set[str] = set()
    for spec, _ in out:
        key = str(Path(spec).expanduser().resolve()) if Path(spec).expanduser().exists() else spec
        if key in seen:
            raise ModelSpecError(f"checkpoint {spec} is named twice")
        seen.add(key)
    return _names(out)
